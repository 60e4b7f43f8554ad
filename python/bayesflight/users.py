"""Simulated users: who they are and how they choose.

A user is a row of the hypothesis grid, a hidden weight vector, drawn from a pool
(``USER_POOLS``: every row, or the train or eval side of ``sampling.user_split``); the
evaluation sets and the teaching dialogues select their users with ``select_users``. A user
chooses by a choice model (deterministic, softmax, epsilon): ``choose``.
"""

from __future__ import annotations

import numpy as np

from .reference import CHOICE_MODELS, ChoiceModel, best_option, grid_size
from .sampling import rng, user_split

USER_POOLS = ("all", "train", "eval")


def select_users(
    n_features: int, seed: int, n_users: int | None = None, users: str = "all"
) -> np.ndarray:
    """Grid rows (sorted) of the users ``users`` names: its whole pool, or a seeded sample of
    ``n_users`` distinct users of it (stream ``eval_users``, so the same seed, pool and size
    select the same users for an evaluation set and for teaching dialogues)."""
    if users not in USER_POOLS:
        raise ValueError(f"users must be one of {USER_POOLS}, got {users!r}")
    pool = np.arange(grid_size(n_features))
    if users != "all":
        pool = user_split(len(pool))[USER_POOLS.index(users) - 1]
    if n_users is None:
        return pool
    if not isinstance(n_users, (int, np.integer)) or not 1 <= n_users <= len(pool):
        raise ValueError(f"n_users must be an integer in 1..{len(pool)} for the {users!r} pool, "
                         f"got {n_users!r}")
    return np.sort(rng(seed, "eval_users").choice(pool, size=n_users, replace=False))


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
