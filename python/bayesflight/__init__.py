"""bayesflight: Bayesian teaching of language models on the flight-recommendation task."""

from __future__ import annotations

from .reference import ChoiceModel, ImpossibleObservationError

__all__ = [
    "Belief",
    "ChoiceModel",
    "HypothesisGrid",
    "ImpossibleObservationError",
    "ProtocolArrays",
    "run_protocol",
]
__version__ = "0.1.0"

_CORE_EXPORTS = ("Belief", "HypothesisGrid", "ProtocolArrays", "run_protocol")


def __getattr__(name: str) -> object:
    """Load the compiled core on first use, so the pure-Python parts import without a build."""
    if name in _CORE_EXPORTS:
        from . import belief

        return getattr(belief, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
