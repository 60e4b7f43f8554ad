"""bayesflight: Bayesian teaching of language models on the flight-recommendation task."""

from __future__ import annotations

from .reference import ChoiceModel, ImpossibleObservationError

__all__ = ["ChoiceModel", "ImpossibleObservationError"]
__version__ = "0.1.0"
