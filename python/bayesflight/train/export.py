"""A checkpoint of a training run as a model directory, the one the run writes when it ends.

A run stopped by hand, killed, or still going keeps its latest checkpoint
(``OUT/checkpoints/step-N``: the trained weights with the optimizer's state, for ``--resume``),
which ``evaluate`` cannot load. ``export_checkpoint`` writes what the run would have written
had it ended at that step: the whole model (``--full``) or the LoRA adapter, the tokenizer,
``train_config.json``, the metrics of its steps, a summary and a model card that names the
checkpoint. The base model and the data file are read as the run read them; the data must
still be the bytes the run trained on.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from ..fileio import write_json
from . import checkpoint, modeling, parallel
from .config import TrainConfig
from .data import read_dialogue_file
from .loop import CONFIG_FILE, DATA_FILE, METRICS_FILE, SUMMARY_FILE, run_summary, save_result
from .tokencache import tokenize_file


def find_checkpoint(run: str | os.PathLike, step: int | None = None) -> Path:
    """The checkpoint of ``step`` in the run directory ``run`` (default: its latest); a
    ValueError naming the argument when the run or the checkpoint is not there."""
    run = Path(run)
    if not (run / CONFIG_FILE).is_file():
        raise ValueError(f"--run: {str(run)!r} is not a training run's directory (it has no "
                         f"{CONFIG_FILE})")
    found = {int(p.name.removeprefix("step-")): p for p in checkpoint.checkpoints(run)}
    if not found:
        finished = (run / SUMMARY_FILE).is_file()
        raise ValueError(f"--run: {str(run)!r} holds no checkpoint" + (
            " (the run finished: its directory is the model)" if finished else
            " (none was reached, or --checkpoint-every was 0)"))
    if step is None:
        return found[max(found)]
    if step not in found:
        raise ValueError(f"--step: {str(run)!r} holds the checkpoint of step "
                         f"{', '.join(map(str, sorted(found)))}, not {step}")
    return found[step]


def export_checkpoint(run: str | os.PathLike, out: str | os.PathLike,
                      step: int | None = None) -> Path:
    """Write the checkpoint of ``step`` (default: the latest) of the run in ``run`` as a model
    directory ``out`` (new); returns ``out``. Everything is written into a temporary
    directory beside ``out`` and renamed into place, so ``out`` is whole or absent."""
    from ..llm import load_model

    path = find_checkpoint(run, step)
    out = Path(out)
    if out.exists():
        raise ValueError(f"--out: {str(out)!r} exists; give a new directory")
    if not out.parent.is_dir():
        raise ValueError(f"--out: directory {str(out.parent)!r} does not exist")
    run = Path(run)
    saved = json.loads((run / CONFIG_FILE).read_text(encoding="utf-8"))
    config = dataclasses.replace(TrainConfig.from_dict(saved), out=str(out), resume=False)
    dialogues = read_dialogue_file(config.data)
    trained_on = json.loads((run / DATA_FILE).read_text(encoding="utf-8"))["sha256"]
    if dialogues.sha256 != trained_on:
        raise ValueError(f"--run: the data file {config.data!r} is not the one the run "
                         f"trained on (its SHA-256 changed since)")
    state = json.loads((path / "state.json").read_text(encoding="utf-8"))
    at = state["step"]
    model, tokenizer = load_model(config.model, device="cpu", dtype="fp32")
    need_answers = config.target == "soft" or config.loss_tokens == "digit"
    data = tokenize_file(dialogues.records, tokenizer, config.data, config.max_len,
                         need_answers, cache=config.token_cache, write=False,
                         data_sha256=dialogues.sha256)
    model = modeling.prepare(model, config)
    params = modeling.trainable(model)
    trained = torch.load(path / "trained.pt", map_location="cpu", weights_only=True)
    if sorted(trained) != sorted(name for name, _ in params):
        raise ValueError(f"--run: checkpoint {path} holds other parameters than the run's "
                         f"model trains (was its base model {config.model!r} changed?)")
    parallel.load_weights(params, trained)
    model.eval()
    metrics = _metrics_to(run / METRICS_FILE, at)
    summary = _summary(state, metrics, data, run)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.export-"))
    try:
        with open(tmp / METRICS_FILE, "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(m) + "\n" for m in metrics)
        write_json(tmp / CONFIG_FILE, config.to_dict())
        write_json(tmp / DATA_FILE, {"sha256": dialogues.sha256})
        save_result(model, tokenizer, tmp, config, None, summary, dialogues.sha256)
        write_json(tmp / SUMMARY_FILE, summary)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _metrics_to(path: Path, step: int) -> list[dict[str, Any]]:
    """The metrics lines of steps 1..``step`` (a killed run may have logged steps past its
    last checkpoint)."""
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    metrics = [m for m in map(json.loads, filter(None, lines)) if m["step"] <= step]
    if [m["step"] for m in metrics] != list(range(1, step + 1)):
        raise ValueError(f"--run: {path} does not hold the metrics of steps 1 to {step}")
    return metrics


def _summary(state: dict[str, Any], metrics: list[dict[str, Any]], data: Any,
             run: Path) -> dict[str, Any]:
    """``train_summary.json`` of the exported step, as the trainer writes it at the end of a
    run, with ``checkpoint`` naming where it came from."""
    summary = run_summary(state["step"], metrics[-1]["epoch"], state["tokens"],
                          state["elapsed_s"], data)
    return {**summary, "checkpoint": {"run": str(run), "step": state["step"]}}
