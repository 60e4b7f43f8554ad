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
* With ``scores`` as well, each turn then scores every option against its statement
  (``bayesflight.option_scores``) and recommends the best total: the teacher acts on the
  belief it stated, and its ``option_probs`` are uniform over the tied best totals.

Leakage control: no dialogue round shows an option set equal, as a multiset of options, to one
of the evaluation's held-out sets (``heldout.heldout_sets``); such rounds are redrawn and
counted (``heldout.draw_avoiding``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields

import numpy as np

from . import option_scores
from .belief import HypothesisGrid, run_protocol
from .domains import Domain
from .evidence import check_form
from .heldout import DEFAULT_HELDOUT_SETS, draw_avoiding, heldout_sets
from .reference import ChoiceModel
from .sampling import rng
from .statements import buckets, posterior_means
from .users import USER_POOLS, choose, select_users

TEACHERS = ("bayesian", "oracle")
CHUNK = 8192  # dialogues drawn and taught together; fixed, as it fixes the order of the draws


@dataclass(frozen=True, eq=False)
class TeachingConfig:
    """What to generate: the teacher, the world and the seeds.

    Users: the ``users`` pool (one of USER_POOLS), or with ``n_users`` a seeded sample of that
    many distinct users of it, the sample ``users.select_users`` draws for an evaluation set
    of the same seed, pool and size; the dialogues go through the pool or the sample in
    shuffled passes, so each user appears equally often (give or take one).

    Held-out sets the rounds must avoid: those of the evaluation set with ``heldout_seed``
    (None: ``seed``), ``n_heldout`` of them, drawn as ``heldout.heldout_sets`` draws them; or,
    given ``heldout`` (H, K, F) on the domain's grid with K = ``n_options`` (such as the
    held-out sets of the paper's file, ``evalfiles``), exactly those, and then
    ``heldout_seed`` must be None and ``n_heldout`` is unused. ``heldout`` is kept as a
    read-only copy; equality and the hash compare its values.
    """

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
    scores: bool = False  # with statements: each option scored against it, the best answered
    evidence: str | None = None  # with statements: each turn after the first opens with the
    # evidence of the last choice, written in this form (evidence.FORMS); None: no evidence
    n_users: int | None = None  # a seeded sample of this many users of the pool; None: all
    heldout: np.ndarray | None = None  # the held-out sets (H, K, F) to avoid; None: drawn

    def __post_init__(self) -> None:
        if self.teacher not in TEACHERS:
            raise ValueError(f"teacher must be one of {TEACHERS}, got {self.teacher!r}")
        if self.scores and self.teacher != "bayesian":
            raise ValueError("scores need the bayesian teacher: the oracle holds no belief to "
                             "act on")
        if self.statements and self.teacher != "bayesian":
            raise ValueError("statements (belief-state teaching) need the bayesian teacher: "
                             "the oracle holds no belief to state")
        if self.evidence is not None:
            check_form(self.evidence)
        if self.evidence and not self.statements:
            raise ValueError("evidence needs statements: it is written before the belief "
                             "statement it moves")
        if self.scores and not self.statements:
            raise ValueError("scores need statements: the options are scored against the "
                             "belief statement before them")
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
        if self.n_users is not None:  # checked against the pool's size where it is drawn
            select_users(self.domain.n_features, self.seed, self.n_users, self.users)
        if self.heldout is not None:
            object.__setattr__(self, "heldout", self._checked_heldout())

    def _checked_heldout(self) -> np.ndarray:
        """``heldout`` as a read-only float64 copy, once known to be (H, K, F) on the grid."""
        if self.heldout_seed is not None:
            raise ValueError(f"heldout_seed must be None when heldout is given (the sets to "
                             f"avoid come from one place), got {self.heldout_seed!r}")
        f = self.domain.n_features
        expected = f"an array of shape (H >= 1, n_options={self.n_options}, F={f})"
        try:
            sets = np.array(self.heldout, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"heldout must be {expected} of numbers, got "
                             f"{type(self.heldout).__name__}") from None
        if sets.ndim != 3 or sets.shape[0] < 1 or sets.shape[1:] != (self.n_options, f):
            raise ValueError(f"heldout must be {expected}, got shape {sets.shape}")
        try:
            self.domain.levels(sets)
        except ValueError:
            raise ValueError(f"heldout must hold options on the {self.domain.name} grid of "
                             f"normalised levels") from None
        sets.flags.writeable = False
        return sets

    def _key(self) -> tuple:
        """The fields as hashable values, the held-out sets as their shape and bytes."""
        held = None if self.heldout is None else (self.heldout.shape, self.heldout.tobytes())
        return (*(getattr(self, f.name) for f in fields(self) if f.name != "heldout"), held)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TeachingConfig):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())


@dataclass(frozen=True)
class Dialogues:
    """A chunk of taught dialogues; ``start`` is the index of its first dialogue in the file.

    user_ids (N,) index the hypothesis grid (the paper's user order); user_weights (N, F);
    rounds (N, R, K, F) normalised options; choices (N, R) the users' revealed choices;
    recommendations (N, R); option_probs (N, R, K) the teacher's probability of each option;
    n_redrawn counts the rounds redrawn because they equalled a held-out set; statements
    (N, R, F), with belief-state teaching, the bucket levels the teacher states before each
    answer (``bayesflight.statements``), else None; scores (N, R, K, F), with option scores,
    the terms of each option's total (``bayesflight.option_scores``), else None.
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
    scores: np.ndarray | None = None


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
    pool = select_users(domain.n_features, config.seed, config.n_users, config.users)
    user_ids = draw_users(pool, config.n_dialogues, rng(config.seed, "train_users"))
    heldout = config.heldout
    if heldout is None:
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
        scored = None
        if config.scores:  # the teacher acts on its statement: the best total is the answer
            scored = option_scores.terms(domain, levels, rounds)  # (N, R, K, F)
            totals = scored.sum(axis=-1)
            recs, probs = option_scores.best(totals), option_scores.tied_best(totals)
        yield Dialogues(start, ids, w, rounds, choices, recs, probs, redrawn, levels, scored)
