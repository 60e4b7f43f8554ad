"""Causal language models as assistants: loading (hub id, local directory, PEFT adapter or the
embedded SmolLM2) and the paper's protocol by next-token scoring."""

from __future__ import annotations

from .cache import cache_dir
from .embedded import DEFAULT_MODEL, EMBEDDED
from .models import load_model

__all__ = ["DEFAULT_MODEL", "EMBEDDED", "cache_dir", "load_model"]
