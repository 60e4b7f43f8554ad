"""Several processes (``torchrun``): process group, device per process, sums across processes.

Without ``WORLD_SIZE`` in the environment (or with 1) everything is a no-op, so the same
training code runs as one process or many: NCCL on GPUs, gloo on CPUs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.distributed as tdist

from ..devices import resolve_device


@dataclass(frozen=True)
class Dist:
    """This process's place among the training processes and its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    owns_group: bool = False  # this run started the process group and must end it

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.enabled:
            tdist.barrier()

    def sum(self, values: Sequence[float]) -> list[float]:
        """Element-wise sums of ``values`` over all processes (float64)."""
        if not self.enabled:
            return [float(v) for v in values]
        t = torch.tensor(list(values), dtype=torch.float64, device=self.device)
        tdist.all_reduce(t)
        return t.tolist()


def init(device: str = "auto") -> Dist:
    """Join the process group when started by torchrun; pick this process's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist(device=torch.device(resolve_device(device)))
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    name = resolve_device(device)
    if name == "cuda":
        name = f"cuda:{local}"
    dev = torch.device(name)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    owns = not tdist.is_initialized()
    if owns:
        tdist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return Dist(rank=rank, world_size=world, local_rank=local, device=dev, owns_group=owns)


def close(dist: Dist) -> None:
    """Leave the process group (if this run joined one)."""
    if dist.owns_group and tdist.is_initialized():
        tdist.destroy_process_group()
