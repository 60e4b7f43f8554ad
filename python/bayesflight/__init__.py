"""bayesflight: Bayesian teaching of language models on the flight-recommendation task."""

from __future__ import annotations

import importlib.metadata

from .reference import ChoiceModel, ImpossibleObservationError

__all__ = [
    "Belief",
    "ChoiceModel",
    "HypothesisGrid",
    "ImpossibleObservationError",
    "ProtocolArrays",
    "run_protocol",
]
try:  # pyproject.toml's, as installed
    __version__ = importlib.metadata.version(__name__)
except importlib.metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

_CORE_EXPORTS = ("Belief", "HypothesisGrid", "ProtocolArrays", "run_protocol")


def __getattr__(name: str) -> object:
    """Load the compiled core on first use, so the pure-Python parts import without a build."""
    if name in _CORE_EXPORTS:
        from . import belief

        return getattr(belief, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
