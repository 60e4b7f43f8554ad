"""The one interface every assistant implements: Bayesian, oracle, baselines and LLMs alike."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from ..reference import recommend_from


class Assistant(ABC):
    """Recommends one of K options and learns from the option the user reveals they prefer.

    One instance serves one user at a time: ``reset`` starts a new user. Only an assistant
    with ``knows_user`` (the oracle) is handed the user's true weights.
    """

    name: str = "assistant"
    knows_user: bool = False

    @abstractmethod
    def reset(self, user_weights: np.ndarray | None = None) -> None:
        """Forget the conversation and start with a new user."""

    @abstractmethod
    def predict(self, options: np.ndarray) -> np.ndarray:
        """The probability of each option being the user's choice: (K, F) -> (K,) or
        (N, K, F) -> (N, K), given the conversation so far."""

    @abstractmethod
    def observe(self, options: np.ndarray, recommended: int, choice: int) -> None:
        """Record a round: the options (K, F), what was recommended, what the user preferred."""

    def recommend(self, options: np.ndarray) -> np.ndarray:
        """The recommended option index: (K, F) -> () or (N, K, F) -> (N,)."""
        return recommend_from(self.predict(options))
