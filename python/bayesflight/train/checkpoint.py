"""Checkpoints that survive kill -9: trained weights, optimizer, schedule, RNG states, position.

A checkpoint is a directory ``checkpoints/step-NNNNNNNN``. It is written under a temporary
name and renamed into place once complete, so a directory with that name is always whole;
older checkpoints are deleted only after the new one is in place. The data position is the
optimizer step alone (the batches of an epoch are a function of seed and epoch), and each
process keeps its own RNG states (dropout draws differ per process).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import torch

from ..fileio import atomic_open, write_json
from . import parallel
from .distributed import Dist

CHECKPOINTS = "checkpoints"
_NAME = re.compile(r"step-(\d{8})")


def rng_state() -> dict[str, Any]:
    """The states of the generators training draws from (dropout: torch's CPU and CUDA ones;
    the data order has its own seeded generator)."""
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _save(obj: Any, path: Path) -> None:
    with atomic_open(path, "wb") as handle:
        torch.save(obj, handle)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_checkpoint(out: Path, step: int, model: torch.nn.Module,
                    params: list[tuple[str, torch.Tensor]], optimizer: torch.optim.Optimizer,
                    scheduler: Any, meta: dict[str, Any], dist: Dist) -> Path:
    """Write the checkpoint of ``step`` (every process calls this); returns its directory.

    Weights and optimizer state are saved unsharded, so a checkpoint written under FSDP
    holds whole tensors like any other."""
    root = Path(out) / CHECKPOINTS
    # Gathering shards is a collective: every process takes part, process 0 keeps the result.
    weights = parallel.full_weights(params, keep=dist.is_main)
    optimizer_state = parallel.optimizer_state(model, optimizer)
    tmp, final = root / f".tmp-step-{step:08d}", root / f"step-{step:08d}"
    if dist.is_main:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    dist.barrier()
    _save(rng_state(), tmp / f"rng-rank{dist.rank}.pt")
    dist.barrier()
    if dist.is_main:
        _save(weights, tmp / "trained.pt")
        _save(optimizer_state, tmp / "optimizer.pt")
        _save(scheduler.state_dict(), tmp / "scheduler.pt")
        write_json(tmp / "state.json", {"step": step, "world_size": dist.world_size, **meta})
        _fsync_dir(tmp)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        _fsync_dir(root)
        for old in checkpoints(out):
            if old != final:
                shutil.rmtree(old, ignore_errors=True)
    dist.barrier()
    return final


def checkpoints(out: str | os.PathLike) -> list[Path]:
    """The complete checkpoints in ``out``, oldest first."""
    root = Path(out) / CHECKPOINTS
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and _NAME.fullmatch(p.name))


def load_checkpoint(path: Path, model: torch.nn.Module,
                    params: list[tuple[str, torch.Tensor]], optimizer: torch.optim.Optimizer,
                    scheduler: Any, dist: Dist) -> dict[str, Any]:
    """Restore weights, optimizer, schedule and this process's RNG; returns state.json."""
    state = json.loads((path / "state.json").read_text(encoding="utf-8"))
    if state["world_size"] != dist.world_size:
        raise ValueError(f"checkpoint {path} was written by {state['world_size']} processes; "
                         f"resume it with as many (got {dist.world_size})")
    trained = torch.load(path / "trained.pt", map_location="cpu", weights_only=True)
    names = [n for n, _ in params]
    if sorted(trained) != sorted(names):
        raise ValueError(f"checkpoint {path} holds other parameters than this model trains")
    parallel.load_weights(params, trained)
    location = "cpu" if parallel.is_sharded(model) else dist.device
    parallel.load_optimizer_state(model, optimizer, torch.load(
        path / "optimizer.pt", map_location=location, weights_only=True))
    scheduler.load_state_dict(torch.load(path / "scheduler.pt", weights_only=True))
    set_rng_state(torch.load(path / f"rng-rank{dist.rank}.pt", weights_only=True))
    return state


def remove_checkpoints(out: str | os.PathLike) -> None:
    """Delete the checkpoints of a finished run (the result directory replaces them)."""
    shutil.rmtree(Path(out) / CHECKPOINTS, ignore_errors=True)


def clear_partial(out: str | os.PathLike) -> None:
    """Delete temporary directories a killed run left behind: of checkpoints, and of the
    result it was saving (``.result-*``, the whole model for full fine-tuning)."""
    root = Path(out) / CHECKPOINTS
    partial = [p for p in root.iterdir() if p.name.startswith(".tmp-")] if root.is_dir() else []
    partial += [p for p in Path(out).glob(".result-*") if p.is_dir()]
    for p in partial:
        shutil.rmtree(p, ignore_errors=True)
