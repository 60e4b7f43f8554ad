"""Seeded random streams, one per purpose, so that evaluation and teaching data never share draws.

Every draw in bayesflight comes from ``rng(seed, purpose)``: the same (seed, purpose) always
gives the same stream, and different purposes give independent streams. One sharing is on
purpose: teaching dialogues on a sample of users take it from ``eval_users``, as the evaluation
sets do (``users.select_users``), so that the same seed, pool and size name the same users.
"""

from __future__ import annotations

import numpy as np

PURPOSES = ("heldout", "eval_rounds", "eval_users", "train_rounds", "train_users", "eval_noise",
            "user_split", "assistant", "train_noise")


def rng(seed: int, purpose: str) -> np.random.Generator:
    """The generator for ``purpose`` (one of PURPOSES) under ``seed``."""
    if purpose not in PURPOSES:
        raise ValueError(f"purpose must be one of {PURPOSES}, got {purpose!r}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return np.random.default_rng(np.random.SeedSequence([int(seed), PURPOSES.index(purpose)]))


def user_split(n_users: int, eval_fraction: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """A fixed split of user indices into (train, eval), sorted; the same on every machine."""
    order = rng(0, "user_split").permutation(n_users)
    n_eval = int(round(n_users * eval_fraction))
    return np.sort(order[n_eval:]), np.sort(order[:n_eval])
