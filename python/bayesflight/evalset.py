"""Evaluation sets: users, their interaction rounds and choices, and the shared held-out sets.

An evaluation set fixes everything the paper's protocol shows an assistant, so that every
assistant (Bayesian, baselines, LLMs) is scored on the same users, rounds and held-out sets.
Shapes: U users, R rounds, K options per set, F features, N held-out sets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .domains import Domain
from .heldout import DEFAULT_HELDOUT_SETS, draw_avoiding, heldout_sets
from .reference import ChoiceModel, hypothesis_grid
from .sampling import rng
from .users import choose, select_users


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


def make_eval_set(
    domain: Domain,
    seed: int = 0,
    n_users: int | None = None,
    n_rounds: int = 5,
    n_heldout: int = DEFAULT_HELDOUT_SETS,
    options_per_round: int = 3,
    user_model: ChoiceModel = ChoiceModel(),
    users: str = "all",
) -> EvalSet:
    """A generated evaluation set: options uniform on each feature's grid.

    Users: every user of the ``users`` pool in grid order, or a seeded sample of ``n_users``
    (sorted): ``users.select_users``. Held-out sets come from stream ``heldout``, rounds from
    ``eval_rounds``, and an interaction set equal to a held-out set (in any option order) is
    drawn again from the same stream: ``heldout.draw_avoiding``. Round choices follow
    ``user_model`` (noise from stream ``eval_noise``); held-out choices are always the user's
    true best option (ties to the lowest index), since the held-out score asks whether the
    assistant learnt the preferences, not the noise.
    """
    for name, value, low in (("n_rounds", n_rounds, 1), ("n_heldout", n_heldout, 1),
                             ("options_per_round", options_per_round, 2)):
        if not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    user_ids = select_users(domain.n_features, seed, n_users, users)
    user_weights = hypothesis_grid(domain.n_features)[user_ids]
    heldout = heldout_sets(domain, seed, n_heldout, options_per_round)
    rounds, _ = draw_avoiding(domain, rng(seed, "eval_rounds"),
                              (len(user_ids), n_rounds, options_per_round), heldout)
    noise = None if user_model.kind == "deterministic" else rng(seed, "eval_noise")
    choices = choose(user_weights, rounds, user_model, noise)
    heldout_choices = choose(user_weights,
                             np.broadcast_to(heldout, (len(user_ids), *heldout.shape)))
    return EvalSet(domain, user_weights, user_ids, rounds, choices, heldout, heldout_choices,
                   seed, user_model)
