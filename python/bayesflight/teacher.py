"""Teaching dialogues: the Bayesian or the oracle teacher meets simulated users, many at once.

A dialogue is R rounds between one simulated user (one of the 624 reward functions) and a
teacher. Each round shows K options; the teacher recommends one with a probability for each
option; the user reveals the option they prefer. Draws come from ``sampling.rng`` streams
(users: ``train_users``, option sets: ``train_rounds``, noisy choices: ``train_noise``), consumed
in chunks of CHUNK dialogues, so the same arguments always give the same dialogues.

* The **Bayesian** teacher is the exact Bayesian assistant (uniform prior over the grid),
  updated through the core's batched ``run_protocol``; it assumes the users' true choice
  model, so it never meets an impossible observation. Its early mistakes stay in.
* The **oracle** recommends the user's actual choice every round, with probability one: it is
  always right, also when a noisy user strays from the best option.
* With ``statements`` (belief-state teaching, Bayesian teacher only), each of the teacher's
  turns first states its belief so far (``bayesflight.statements``), then recommends.

Leakage control: no dialogue round shows an option set equal, as a multiset of options, to one
of the evaluation's held-out sets (``heldout.heldout_sets``); such rounds are redrawn and
counted (``heldout.draw_avoiding``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .belief import HypothesisGrid, run_protocol
from .domains import Domain
from .heldout import DEFAULT_HELDOUT_SETS, draw_avoiding, heldout_sets
from .reference import ChoiceModel
from .sampling import rng
from .statements import buckets, posterior_means
from .users import USER_POOLS, choose, select_users

TEACHERS = ("bayesian", "oracle")
CHUNK = 8192  # dialogues drawn and taught together; fixed, as it fixes the order of the draws


@dataclass(frozen=True)
class TeachingConfig:
    """What to generate: the teacher, the world and the seeds."""

    teacher: str
    domain: Domain
    n_dialogues: int
    seed: int
    n_rounds: int = 5
    n_options: int = 3
    choice_model: ChoiceModel = ChoiceModel()
    users: str = "all"
    heldout_seed: int | None = None  # the evaluation seed whose held-out sets to avoid; None: seed
    n_heldout: int = DEFAULT_HELDOUT_SETS
    statements: bool = False  # belief-state teaching: a belief statement before each answer

    def __post_init__(self) -> None:
        if self.teacher not in TEACHERS:
            raise ValueError(f"teacher must be one of {TEACHERS}, got {self.teacher!r}")
        if self.statements and self.teacher != "bayesian":
            raise ValueError("statements (belief-state teaching) need the bayesian teacher: "
                             "the oracle holds no belief to state")
        if self.users not in USER_POOLS:
            raise ValueError(f"users must be one of {USER_POOLS}, got {self.users!r}")
        for name, low in (("n_dialogues", 1), ("n_rounds", 1), ("n_options", 2),
                          ("n_heldout", 0), ("seed", 0)):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if self.heldout_seed is not None and (
            not isinstance(self.heldout_seed, (int, np.integer)) or self.heldout_seed < 0
        ):
            raise ValueError(f"heldout_seed must be a non-negative integer or None, "
                             f"got {self.heldout_seed!r}")


@dataclass(frozen=True)
class Dialogues:
    """A chunk of taught dialogues; ``start`` is the index of its first dialogue in the file.

    user_ids (N,) index the hypothesis grid (the paper's user order); user_weights (N, F);
    rounds (N, R, K, F) normalised options; choices (N, R) the users' revealed choices;
    recommendations (N, R); option_probs (N, R, K) the teacher's probability of each option;
    n_redrawn counts the rounds redrawn because they equalled a held-out set; statements
    (N, R, F), with belief-state teaching, the bucket levels the teacher states before each
    answer (``bayesflight.statements``), else None.
    """

    start: int
    user_ids: np.ndarray
    user_weights: np.ndarray
    rounds: np.ndarray
    choices: np.ndarray
    recommendations: np.ndarray
    option_probs: np.ndarray
    n_redrawn: int
    statements: np.ndarray | None = None


def draw_users(pool: np.ndarray, n: int, generator: np.random.Generator) -> np.ndarray:
    """``n`` users from ``pool``, balanced: consecutive shuffled passes over the pool: (n,)."""
    passes = -(-n // len(pool))
    return np.concatenate([generator.permutation(pool) for _ in range(passes)])[:n]


def teach(
    teacher: str,
    grid: HypothesisGrid,
    user_weights: np.ndarray,
    rounds: np.ndarray,
    choices: np.ndarray,
    choice_model: ChoiceModel = ChoiceModel(),
) -> tuple[np.ndarray, np.ndarray]:
    """The teacher's (recommendations (N, R), option_probs (N, R, K)) given the users' choices."""
    if teacher == "bayesian":
        out = run_protocol(grid, user_weights, rounds, choices=choices, choice_model=choice_model)
        return np.asarray(out.round_recommendations), np.asarray(out.round_predictive)
    if teacher == "oracle":
        k = rounds.shape[2]
        return choices.copy(), (choices[..., None] == np.arange(k)).astype(np.float64)
    raise ValueError(f"teacher must be one of {TEACHERS}, got {teacher!r}")


def generate(config: TeachingConfig) -> Iterator[Dialogues]:
    """The dialogues of ``config`` in chunks of at most CHUNK, in file order."""
    domain = config.domain
    grid = HypothesisGrid(domain.n_features)
    weights = np.asarray(grid.weights)
    pool = select_users(domain.n_features, config.seed, None, config.users)
    user_ids = draw_users(pool, config.n_dialogues, rng(config.seed, "train_users"))
    heldout_seed = config.seed if config.heldout_seed is None else config.heldout_seed
    heldout = heldout_sets(domain, heldout_seed, config.n_heldout, config.n_options)
    rounds_rng, noise_rng = rng(config.seed, "train_rounds"), rng(config.seed, "train_noise")
    for start in range(0, config.n_dialogues, CHUNK):
        ids = user_ids[start:start + CHUNK]
        w = weights[ids]
        rounds, redrawn = draw_avoiding(
            domain, rounds_rng, (len(ids), config.n_rounds, config.n_options), heldout
        )
        choices = choose(w, rounds, config.choice_model, noise_rng)
        recs, probs = teach(config.teacher, grid, w, rounds, choices, config.choice_model)
        levels = (buckets(posterior_means(weights, rounds, choices, config.choice_model))
                  if config.statements else None)
        yield Dialogues(start, ids, w, rounds, choices, recs, probs, redrawn, levels)
