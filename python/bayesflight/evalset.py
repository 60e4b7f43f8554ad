"""Evaluation sets: users, their interaction rounds and choices, and the shared held-out sets.

An evaluation set fixes everything the paper's protocol shows an assistant, so that every
assistant (Bayesian, baselines, LLMs) is scored on the same users, rounds and held-out sets.
Shapes: U users, R rounds, K options per set, F features, N held-out sets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .domains import Domain
from .reference import ChoiceModel, grid_size, hypothesis_grid
from .sampling import rng, user_split
from .users import choose

USER_POOLS = ("all", "train", "eval")


@dataclass(frozen=True)
class EvalSet:
    """What the protocol needs: users (U, F), rounds (U, R, K, F), held-out sets (N, K, F).

    ``choices`` (U, R) are the options the users reveal they prefer in each round (drawn
    from ``user_model``); ``heldout_choices`` (U, N) are the options they prefer on the
    held-out sets, the truth the held-out accuracy is scored against. ``user_ids`` (U,)
    are the users' rows in the hypothesis grid. ``seed`` is None for a set read from
    files whose lines carry different seeds.
    """

    domain: Domain
    user_weights: np.ndarray
    user_ids: np.ndarray
    rounds: np.ndarray
    choices: np.ndarray
    heldout: np.ndarray
    heldout_choices: np.ndarray
    seed: int | None
    user_model: ChoiceModel = ChoiceModel()

    def __post_init__(self) -> None:
        u, f = self.user_weights.shape
        if f != self.domain.n_features:
            raise ValueError(f"user_weights must have {self.domain.n_features} features "
                             f"(domain {self.domain.name}), got shape {self.user_weights.shape}")
        if self.rounds.ndim != 4 or self.rounds.shape[0] != u or self.rounds.shape[3] != f:
            raise ValueError(f"rounds must be (U={u}, R, K, F={f}), got {self.rounds.shape}")
        _, r, k, _ = self.rounds.shape
        n = self.heldout.shape[0]
        expected = {"user_ids": (u,), "choices": (u, r), "heldout": (n, k, f),
                    "heldout_choices": (u, n)}
        for name, shape in expected.items():
            if getattr(self, name).shape != shape:
                raise ValueError(f"{name} must have shape {shape}, got "
                                 f"{getattr(self, name).shape}")

    @property
    def n_users(self) -> int:
        return self.user_weights.shape[0]

    @property
    def n_rounds(self) -> int:
        return self.rounds.shape[1]

    @property
    def n_options(self) -> int:
        return self.rounds.shape[2]

    @property
    def n_heldout(self) -> int:
        return self.heldout.shape[0]


def select_users(
    n_features: int, seed: int, n_users: int | None = None, users: str = "all"
) -> np.ndarray:
    """Grid indices (sorted) of the users to evaluate: all of ``users``' pool, or a seeded
    sample of ``n_users`` of them (stream ``eval_users``)."""
    n_grid = grid_size(n_features)
    if users == "all":
        pool = np.arange(n_grid)
    elif users in ("train", "eval"):
        pool = user_split(n_grid)[USER_POOLS.index(users) - 1]
    else:
        raise ValueError(f"users must be one of {USER_POOLS}, got {users!r}")
    if n_users is None:
        return pool
    if not 1 <= n_users <= len(pool):
        raise ValueError(f"n_users must be in 1..{len(pool)} for the {users!r} pool, "
                         f"got {n_users}")
    return np.sort(rng(seed, "eval_users").choice(pool, size=n_users, replace=False))


def set_keys(domain: Domain, option_sets: np.ndarray) -> np.ndarray:
    """An order-free key of each option set (..., K, F): (..., K) sorted option codes."""
    levels = domain.levels(option_sets)
    place = np.cumprod(np.concatenate([[1], domain.n_levels[:-1]]))
    return np.sort(levels @ place, axis=-1)


def heldout_overlap(domain: Domain, rounds: np.ndarray, heldout: np.ndarray) -> np.ndarray:
    """Which interaction sets (U, R, K, F) equal a held-out set (N, K, F) up to the order of
    their options: (U, R) bool."""
    round_keys, heldout_keys = set_keys(domain, rounds), set_keys(domain, heldout)
    # the smallest code alone rules out almost every pair cheaply; compare whole keys after.
    maybe = np.isin(round_keys[..., 0], heldout_keys[:, 0])
    overlap = np.zeros(rounds.shape[:2], dtype=bool)
    for u, r in zip(*np.nonzero(maybe), strict=True):
        overlap[u, r] = bool((heldout_keys == round_keys[u, r]).all(axis=-1).any())
    return overlap


def make_eval_set(
    domain: Domain,
    seed: int = 0,
    n_users: int | None = None,
    n_rounds: int = 5,
    n_heldout: int = 100,
    options_per_round: int = 3,
    user_model: ChoiceModel = ChoiceModel(),
    users: str = "all",
) -> EvalSet:
    """A generated evaluation set: options uniform on each feature's grid.

    Users: every user of the ``users`` pool in grid order, or a seeded sample of ``n_users``
    (sorted). Held-out sets come from stream ``heldout``, rounds from ``eval_rounds``, and
    an interaction set equal to a held-out set (in any option order) is drawn again from the
    same stream. Round choices follow ``user_model`` (noise from stream ``eval_noise``); held-out
    choices are always the user's true best option (ties to the lowest index), since the
    held-out score asks whether the assistant learnt the preferences, not the noise.
    """
    for name, value, low in (("n_rounds", n_rounds, 1), ("n_heldout", n_heldout, 1),
                             ("options_per_round", options_per_round, 2)):
        if not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    user_ids = select_users(domain.n_features, seed, n_users, users)
    user_weights = hypothesis_grid(domain.n_features)[user_ids]
    heldout = domain.sample(rng(seed, "heldout"), (n_heldout, options_per_round))
    draw = rng(seed, "eval_rounds")
    rounds = domain.sample(draw, (len(user_ids), n_rounds, options_per_round))
    while (clash := heldout_overlap(domain, rounds, heldout)).any():
        rounds[clash] = domain.sample(draw, (int(clash.sum()), options_per_round))
    noise = None if user_model.kind == "deterministic" else rng(seed, "eval_noise")
    choices = choose(user_weights, rounds, user_model, noise)
    heldout_choices = choose(user_weights,
                             np.broadcast_to(heldout, (len(user_ids), *heldout.shape)))
    return EvalSet(domain, user_weights, user_ids, rounds, choices, heldout, heldout_choices,
                   seed, user_model)
