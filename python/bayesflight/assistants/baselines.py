"""Assistants that do not infer the user: random, and two heuristics LLMs fall back on."""

from __future__ import annotations

import numpy as np

from ..belief import Belief, HypothesisGrid
from ..domains import Domain
from ..reference import UTILITY_TIE_TOL
from ..sampling import rng
from .base import Assistant


class RandomAssistant(Assistant):
    """Uniform predictive, and a recommendation drawn uniformly at random (seeded, stream
    ``assistant``), so that chance is 1/K and not the rate at which option 1 is best."""

    name = "random"

    def __init__(self, seed: int = 0) -> None:
        self.rng = rng(seed, "assistant")

    def reset(self, user_weights: np.ndarray | None = None) -> None:
        """Nothing to forget; the random stream runs on across users."""

    def predict(self, options: np.ndarray) -> np.ndarray:
        shape = np.shape(options)[:-1]
        return np.full(shape, 1.0 / shape[-1])

    def recommend(self, options: np.ndarray) -> np.ndarray:
        shape = np.shape(options)
        return self.rng.integers(shape[-2], size=shape[:-2])

    def observe(self, options: np.ndarray, recommended: int, choice: int) -> None:
        """It never learns."""


class CheapestAssistant(Assistant):
    """Always the lowest-price option: uniform over the cheapest options, recommending the
    first of them. It never learns."""

    name = "cheapest"

    def __init__(self, domain: Domain) -> None:
        if "price" not in domain.feature_names:
            raise ValueError(f"domain {domain.name} has no 'price' feature "
                             f"(features: {domain.feature_names})")
        self.price = domain.feature_names.index("price")

    def reset(self, user_weights: np.ndarray | None = None) -> None:
        """Nothing to forget."""

    def predict(self, options: np.ndarray) -> np.ndarray:
        price = np.asarray(options, dtype=np.float64)[..., self.price]
        cheapest = price <= price.min(axis=-1, keepdims=True) + UTILITY_TIE_TOL
        return cheapest / cheapest.sum(axis=-1, keepdims=True)

    def observe(self, options: np.ndarray, recommended: int, choice: int) -> None:
        """It never learns."""


class PriorMajorityAssistant(Assistant):
    """The Bayesian assistant frozen at its uniform prior: the option most reward functions
    prefer. It never updates, like a model that ignores the conversation."""

    name = "prior-majority"

    def __init__(self, grid: HypothesisGrid | int = 4) -> None:
        self.prior = Belief(grid if isinstance(grid, HypothesisGrid) else HypothesisGrid(grid))
        self._cache: dict[tuple[tuple[int, ...], bytes], np.ndarray] = {}

    def reset(self, user_weights: np.ndarray | None = None) -> None:
        """Nothing to forget."""

    def predict(self, options: np.ndarray) -> np.ndarray:
        x = np.asarray(options, dtype=np.float64)
        if x.ndim < 3:
            return self.prior.predictive(x)
        # the protocol asks about the same held-out sets for every user: answer them once.
        key = (x.shape, x.tobytes())
        if key not in self._cache:
            self._cache = {key: self.prior.predictive(x)}
        return self._cache[key]

    def observe(self, options: np.ndarray, recommended: int, choice: int) -> None:
        """It never learns."""
