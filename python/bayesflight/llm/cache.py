"""Where bayesflight keeps what it derives from models: converted embedded models, their
GGUF files and the ledger of verified checksums."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$BAYESFLIGHT_CACHE``, or ``~/.cache/bayesflight``."""
    env = os.environ.get("BAYESFLIGHT_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "bayesflight"
