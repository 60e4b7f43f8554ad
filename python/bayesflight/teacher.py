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
of the evaluation's held-out sets (``heldout_sets``); such rounds are redrawn and counted.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .belief import HypothesisGrid, run_protocol
from .domains import Domain
from .reference import ChoiceModel
from .sampling import rng, user_split
from .statements import buckets, posterior_means
from .users import choose

TEACHERS = ("bayesian", "oracle")
USER_SETS = ("all", "train", "eval")
CHUNK = 8192  # dialogues drawn and taught together; fixed, as it fixes the order of the draws
DEFAULT_HELDOUT_SETS = 100


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
        if self.users not in USER_SETS:
            raise ValueError(f"users must be one of {USER_SETS}, got {self.users!r}")
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


def heldout_sets(
    domain: Domain, seed: int, n_heldout: int = DEFAULT_HELDOUT_SETS, n_options: int = 3
) -> np.ndarray:
    """The evaluation's held-out option sets for ``seed``: (n_heldout, n_options, F).

    The same draw as the evaluation set: ``domain.sample(rng(seed, "heldout"), (N, K))``.
    """
    return domain.sample(rng(seed, "heldout"), (n_heldout, n_options))


def option_levels(domain: Domain, options: np.ndarray) -> np.ndarray:
    """Integer levels (..., F) of options already on the domain's grid (..., F), unchecked.

    The fast form of ``Domain.levels`` for options drawn by ``Domain.sample``.
    """
    return np.rint(options * (domain.n_levels - 1)).astype(np.int64)


def option_set_codes(domain: Domain, sets: np.ndarray) -> np.ndarray:
    """Each option set (..., K, F) as its options' codes in increasing order: (..., K).

    Equal exactly for sets that are equal as multisets of options.
    """
    radix = np.cumprod(np.concatenate(([1], domain.n_levels[:0:-1])))[::-1]
    return np.sort(option_levels(domain, sets) @ radix, axis=-1)


def heldout_clashes(domain: Domain, sets: np.ndarray, heldout: np.ndarray) -> np.ndarray:
    """Which option sets (..., K, F) equal a held-out set (H, K, F) as a multiset: (...,) bool."""
    codes, forbidden = option_set_codes(domain, sets), option_set_codes(domain, heldout)
    maybe = np.isin(codes[..., 0], forbidden[:, 0])  # the smallest code rules out most sets
    clash = np.zeros(codes.shape[:-1], dtype=bool)
    clash[maybe] = (codes[maybe][:, None, :] == forbidden).all(axis=-1).any(axis=-1)
    return clash


def user_pool(users: str, n_users: int) -> np.ndarray:
    """Grid indices of the users to draw from: all, or the train or eval side of user_split."""
    if users == "all":
        return np.arange(n_users)
    if users not in USER_SETS:
        raise ValueError(f"users must be one of {USER_SETS}, got {users!r}")
    train, evaluation = user_split(n_users)
    return train if users == "train" else evaluation


def draw_users(pool: np.ndarray, n: int, generator: np.random.Generator) -> np.ndarray:
    """``n`` users from ``pool``, balanced: consecutive shuffled passes over the pool: (n,)."""
    passes = -(-n // len(pool))
    return np.concatenate([generator.permutation(pool) for _ in range(passes)])[:n]


def draw_rounds(
    domain: Domain,
    generator: np.random.Generator,
    shape: tuple[int, int, int],
    heldout: np.ndarray,
) -> tuple[np.ndarray, int]:
    """Option sets (N, R, K, F), none equal to a ``heldout`` set (H, K', F) as a multiset.

    Returns (sets, number of rounds redrawn); a redrawn round takes the next draws of
    ``generator``.
    """
    sets = domain.sample(generator, shape)
    if len(heldout) == 0 or heldout.shape[1] != shape[2]:
        return sets, 0  # sets of another size are never equal
    bad = heldout_clashes(domain, sets, heldout)
    redrawn = 0
    while bad.any():
        redrawn += int(bad.sum())
        sets[bad] = domain.sample(generator, (int(bad.sum()), shape[2]))
        bad[bad] = heldout_clashes(domain, sets[bad], heldout)
    return sets, redrawn


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
    user_ids = draw_users(user_pool(config.users, len(weights)), config.n_dialogues,
                          rng(config.seed, "train_users"))
    heldout_seed = config.seed if config.heldout_seed is None else config.heldout_seed
    heldout = heldout_sets(domain, heldout_seed, config.n_heldout, config.n_options)
    rounds_rng, noise_rng = rng(config.seed, "train_rounds"), rng(config.seed, "train_noise")
    for start in range(0, config.n_dialogues, CHUNK):
        ids = user_ids[start:start + CHUNK]
        w = weights[ids]
        rounds, redrawn = draw_rounds(
            domain, rounds_rng, (len(ids), config.n_rounds, config.n_options), heldout
        )
        choices = choose(w, rounds, config.choice_model, noise_rng)
        recs, probs = teach(config.teacher, grid, w, rounds, choices, config.choice_model)
        levels = (buckets(posterior_means(weights, rounds, choices, config.choice_model))
                  if config.statements else None)
        yield Dialogues(start, ids, w, rounds, choices, recs, probs, redrawn, levels)
