"""Simulated users: a hidden weight vector and a choice model (deterministic, softmax, epsilon)."""

from __future__ import annotations

import numpy as np

from .reference import CHOICE_MODELS, ChoiceModel, best_option


def choose(
    user_weights: np.ndarray,
    options: np.ndarray,
    model: ChoiceModel = ChoiceModel(),
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Each user's choice: user_weights (U, F), options (U, ..., K, F) -> (U, ...) int64.

    Deterministic users take the best option (ties within 1e-9 to the lowest index);
    softmax and epsilon users draw from their choice distribution with ``rng``.
    """
    w = np.asarray(user_weights, dtype=np.float64)
    x = np.asarray(options, dtype=np.float64)
    if w.ndim != 2 or x.ndim < 3 or x.shape[0] != w.shape[0] or x.shape[-1] != w.shape[1]:
        raise ValueError(f"user_weights must be (U, F) and options (U, ..., K, F); "
                         f"got {w.shape} and {x.shape}")
    u = np.einsum("u...kf,uf->u...k", x, w)
    best = best_option(u)
    if model.kind == "deterministic":
        return best
    if rng is None:
        raise ValueError(f"rng is required for a {model.kind} user")
    k = u.shape[-1]
    if model.kind == "softmax":
        z = model.beta * (u - u.max(axis=-1, keepdims=True))
        p = np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)
    elif model.kind == "epsilon":
        p = (1 - model.epsilon) * (best[..., None] == np.arange(k)) + model.epsilon / k
    else:
        raise ValueError(f"model.kind must be one of {CHOICE_MODELS}, got {model.kind!r}")
    draws = rng.random(best.shape)[..., None]
    return np.minimum((draws > np.cumsum(p, axis=-1)).sum(axis=-1), k - 1)
