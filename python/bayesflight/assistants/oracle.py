"""The oracle assistant: it is told the user's weights, so it is always right."""

from __future__ import annotations

import numpy as np

from ..reference import best_option
from .base import Assistant


class OracleAssistant(Assistant):
    """Puts probability 1 on the user's best option (ties to the lowest index, as the
    deterministic user decides); the paper's baseline teacher."""

    name = "oracle"
    knows_user = True

    def __init__(self) -> None:
        self.user_weights: np.ndarray | None = None

    def reset(self, user_weights: np.ndarray | None = None) -> None:
        if user_weights is None:
            raise ValueError("user_weights is required: the oracle knows the user")
        self.user_weights = np.asarray(user_weights, dtype=np.float64)

    def predict(self, options: np.ndarray) -> np.ndarray:
        if self.user_weights is None:
            raise RuntimeError("call reset(user_weights) before predict")
        x = np.asarray(options, dtype=np.float64)
        best = best_option(x @ self.user_weights)
        return (best[..., None] == np.arange(x.shape[-2])).astype(np.float64)

    def observe(self, options: np.ndarray, recommended: int, choice: int) -> None:
        """The oracle has nothing to learn."""
