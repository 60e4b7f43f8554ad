"""Supervised fine-tuning on teaching dialogues: LoRA or full, hard or soft targets, resumable.

``train(TrainConfig(data=..., out=...))`` is the whole API; ``bayesflight train`` wraps it.
"""

from __future__ import annotations

from .config import PRESETS, TrainConfig, parse_lora, with_preset
from .loop import train

__all__ = ["PRESETS", "TrainConfig", "parse_lora", "train", "with_preset"]
