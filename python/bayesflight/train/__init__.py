"""Supervised fine-tuning on teaching dialogues: LoRA or full, hard or soft targets, resumable.

``train(TrainConfig(data=..., out=...))`` is the whole API; ``bayesflight train`` wraps it.
"""

from __future__ import annotations

from typing import Any

from .config import PRESETS, TrainConfig, parse_lora, with_preset

__all__ = ["PRESETS", "TrainConfig", "parse_lora", "train", "with_preset"]


def __getattr__(name: str) -> Any:
    """``train`` is imported on first use: it brings torch, which every ``bayesflight``
    command would otherwise pay for at start-up (seconds), the settings included."""
    if name == "train":
        from .loop import train

        return train
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
