"""The exact Bayesian assistant, backed by the C++ core: hypothesis grid, belief, batched protocol.

This module validates every argument (a ValueError or TypeError names the argument and what
was expected) and hands contiguous float64 arrays to ``bayesflight._core``. The maths and the
tie rules are those of ``bayesflight.reference``. Shapes: M hypotheses, F features, K options
per set, N option sets, U users, R rounds.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import _core
from .reference import DEFAULT_LEVELS, ChoiceModel

# Inputs whose utilities (times beta) could reach this size are refused: beyond it the
# log-likelihoods could overflow to inf and the maths would turn into NaN.
MAX_UTILITY_SCALE = 1e150
MIN_OPTIONS = _core.MIN_OPTIONS
MAX_OPTIONS = _core.MAX_OPTIONS
MAX_THREADS = 4096


class HypothesisGrid:
    """Every weight vector over ``levels`` except all-zero, lexicographic in the level order.

    ``HypothesisGrid(4)`` is the paper's 624 users; hypothesis 0 is (-1, -1, -1, -1). F may be
    1 to 10 and ``levels`` 2 to 16 distinct finite numbers, with at most 2**24 rows in all.
    """

    def __init__(self, n_features: int = 4, levels: Sequence[float] = DEFAULT_LEVELS) -> None:
        if not _is_integer(n_features):
            raise TypeError(f"n_features must be an integer, got {type(n_features).__name__}")
        level_array = _float_array(levels, "levels")
        if level_array.ndim != 1:
            raise ValueError(f"levels must be a flat sequence of numbers, got shape "
                             f"{level_array.shape}")
        self._core = _core.Grid(int(n_features), level_array.tolist())
        weights = np.asarray(self._core.weights)
        weights.flags.writeable = False
        self._weights = weights

    def __len__(self) -> int:
        return len(self._core)

    def __repr__(self) -> str:
        return f"HypothesisGrid(n_features={self.n_features}, levels={self.levels})"

    @property
    def n_features(self) -> int:
        """F, the number of weights in each hypothesis."""
        return self._core.n_features

    @property
    def levels(self) -> tuple[float, ...]:
        """The level set, in the order that defines the grid's lexicographic order."""
        return tuple(self._core.levels)

    @property
    def weights(self) -> np.ndarray:
        """The hypotheses' weight vectors: (M, F) float64, read-only."""
        return self._weights


class Belief:
    """A posterior over a HypothesisGrid under a choice model, updated by Bayes' rule.

    ``choice_model`` is ``"deterministic"`` (the paper's), ``"softmax"`` (needs ``beta`` > 0)
    or ``"epsilon"`` (needs 0 < ``epsilon`` < 1), or a ChoiceModel. ``prior`` is M
    non-negative weights (normalised here); uniform when None.
    """

    def __init__(
        self,
        grid: HypothesisGrid,
        choice_model: str | ChoiceModel = "deterministic",
        beta: float | None = None,
        epsilon: float | None = None,
        prior: np.ndarray | None = None,
    ) -> None:
        if not isinstance(grid, HypothesisGrid):
            raise TypeError(f"grid must be a HypothesisGrid, got {type(grid).__name__}")
        self._grid = grid
        self._model = _choice_model(choice_model, beta, epsilon)
        prior_array = None
        if prior is not None:
            prior_array = _float_array(prior, "prior")
            if prior_array.shape != (len(grid),):
                raise ValueError(f"prior must have shape ({len(grid)},), one weight per "
                                 f"hypothesis, got {prior_array.shape}")
            if (prior_array < 0).any() or prior_array.sum() <= 0:
                raise ValueError("prior must be non-negative with a positive sum")
        self._core = _core.Belief(grid._core, *_model_arguments(self._model), prior_array)

    def __repr__(self) -> str:
        return f"Belief({self._grid!r}, {self._model!r}, entropy={self.entropy():.4g})"

    @property
    def grid(self) -> HypothesisGrid:
        """The hypothesis grid this belief is over."""
        return self._grid

    @property
    def choice_model(self) -> ChoiceModel:
        """How the assistant assumes the user chooses."""
        return self._model

    @property
    def log_posterior(self) -> np.ndarray:
        """log P(h | evidence): (M,), -inf for excluded hypotheses; a copy."""
        return self._core.log_posterior()

    @property
    def posterior(self) -> np.ndarray:
        """P(h | evidence): (M,), sums to 1; a copy."""
        return np.exp(self._core.log_posterior())

    def update(self, options: np.ndarray, choice: int) -> None:
        """Bayes' rule after the user picks option ``choice`` from ``options`` (K, F).

        Raises ImpossibleObservationError, leaving the belief unchanged, when a deterministic
        update would leave no hypothesis.
        """
        x = self._options(options, "options", (2,))
        if not _is_integer(choice):
            raise TypeError(f"choice must be an integer option index, got "
                            f"{type(choice).__name__}")
        if not 0 <= choice < x.shape[0]:
            raise ValueError(f"choice must be an option index in [0, {x.shape[0]}), got {choice}")
        self._core.update(x, int(choice))

    def predictive(self, options: np.ndarray) -> np.ndarray:
        """P(user picks option k): (K, F) -> (K,) or (N, K, F) -> (N, K)."""
        x = self._options(options, "options", (2, 3))
        if x.ndim == 2:
            return self._core.predictive(x[None])[0]
        return self._core.predictive(x)

    def recommend(self, options: np.ndarray) -> int | np.ndarray:
        """The most probable choice (ties within 1e-12 to the lowest index): (K, F) -> int or
        (N, K, F) -> (N,) int64."""
        x = self._options(options, "options", (2, 3))
        if x.ndim == 2:
            return int(self._core.recommend(x[None])[0])
        return self._core.recommend(x)

    def entropy(self) -> float:
        """Shannon entropy of the posterior, in nats."""
        return float(self._core.entropy())

    def posterior_mean(self) -> np.ndarray:
        """E[w] under the posterior: (F,)."""
        return self._core.posterior_mean()

    def copy(self) -> Belief:
        """An independent belief with the same grid, model and posterior."""
        twin = object.__new__(Belief)
        twin._grid, twin._model, twin._core = self._grid, self._model, self._core.copy()
        return twin

    def _options(self, options: np.ndarray, name: str, ndims: tuple[int, ...]) -> np.ndarray:
        x = _option_array(options, name, ndims, self._grid.n_features)
        _check_scale(name, x, self._grid, self._model)
        return x


@dataclass(frozen=True)
class ProtocolArrays:
    """What run_protocol returns, for U users, R rounds, N held-out sets of K2 options.

    choices (U, R) int64: the option each user revealed each round.
    round_predictive (U, R, K): the assistant's predictive on each round's options before that
    round's choice is revealed; round_recommendations (U, R) int64, its recommendation.
    heldout_recommendations (U, R + 1, N) int64 and heldout_accuracy (U, R + 1): before any
    round, then after each round; the accuracy is the fraction of held-out sets where the
    recommendation is the user's deterministic best option (NaN when N is 0).
    heldout_predictive (U, R + 1, N, K2), only when asked for, else None.
    """

    choices: np.ndarray
    round_predictive: np.ndarray
    round_recommendations: np.ndarray
    heldout_recommendations: np.ndarray
    heldout_accuracy: np.ndarray
    heldout_predictive: np.ndarray | None


def run_protocol(
    grid: HypothesisGrid,
    user_weights: np.ndarray,
    rounds: np.ndarray,
    heldout: np.ndarray | None = None,
    choices: np.ndarray | None = None,
    choice_model: ChoiceModel = ChoiceModel(),
    return_heldout_predictive: bool = False,
    n_threads: int = 0,
) -> ProtocolArrays:
    """The paper's protocol for the Bayesian assistant, for many users at once, in parallel.

    user_weights (U, F); rounds (U, R, K, F), each user's interaction option sets; heldout
    (N, K2, F), the same held-out sets for every user, or None; choices (U, R), the option
    each user revealed each round (default: each user's deterministic best, ties within 1e-9
    to the lowest index). Every user starts from a uniform prior. ``n_threads`` 0 uses every
    core. Raises ImpossibleObservationError naming the user and round when a deterministic
    update would leave no hypothesis.
    """
    if not isinstance(grid, HypothesisGrid):
        raise TypeError(f"grid must be a HypothesisGrid, got {type(grid).__name__}")
    model = _choice_model(choice_model, None, None)
    n_features = grid.n_features
    w = _float_array(user_weights, "user_weights")
    if w.ndim != 2 or w.shape[1] != n_features:
        raise ValueError(f"user_weights must have shape (U, {n_features}), got {w.shape}")
    x = _option_array(rounds, "rounds", (4,), n_features)
    if x.shape[0] != w.shape[0]:
        raise ValueError(f"rounds must have shape (U, R, K, F) with U = {w.shape[0]} users "
                         f"as in user_weights, got {x.shape}")
    _check_scale("rounds", x, grid, model)
    _check_user_scale(w, x, "rounds")
    held = None
    if heldout is not None:
        held = _option_array(heldout, "heldout", (3,), n_features)
        _check_scale("heldout", held, grid, model)
        _check_user_scale(w, held, "heldout")
    picked = None if choices is None else _choice_array(choices, x.shape[:3])
    if not isinstance(return_heldout_predictive, (bool, np.bool_)):
        raise TypeError("return_heldout_predictive must be a bool")
    if not _is_integer(n_threads) or not 0 <= n_threads <= MAX_THREADS:
        raise ValueError(f"n_threads must be an integer in [0, {MAX_THREADS}] (0: every core), "
                         f"got {n_threads!r}")
    out = _core.run_protocol(grid._core, *_model_arguments(model), w, x, held, picked,
                             bool(return_heldout_predictive), int(n_threads))
    return ProtocolArrays(**out)


def _is_integer(value: object) -> bool:
    return isinstance(value, (numbers.Integral, np.integer)) and not isinstance(
        value, (bool, np.bool_))


def _float_array(value: object, name: str) -> np.ndarray:
    """``value`` as a C-contiguous finite float64 array; integers are converted."""
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be an array of numbers, got {type(value).__name__}")
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be a rectangular array of numbers: {error}") from None
    if array.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold real numbers (integer or float), got dtype "
                        f"{array.dtype}")
    array = np.ascontiguousarray(array, dtype=np.float64)
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must be finite, got NaN or inf")
    return array


def _option_array(value: object, name: str, ndims: tuple[int, ...], n_features: int) -> np.ndarray:
    """Option sets (..., K, F) with ndim in ``ndims``, MIN_OPTIONS <= K <= MAX_OPTIONS and
    F = n_features."""
    array = _float_array(value, name)
    dims = {2: "(K, F)", 3: "(N, K, F)", 4: "(U, R, K, F)"}
    wanted = " or ".join(dims[d] for d in ndims)
    if array.ndim not in ndims:
        raise ValueError(f"{name} must have shape {wanted}, got {array.shape}")
    if array.shape[-1] != n_features:
        raise ValueError(f"{name} must have F = {n_features} features (the grid's) in its last "
                         f"axis, got shape {array.shape}")
    k = array.shape[-2]
    if not MIN_OPTIONS <= k <= MAX_OPTIONS:
        raise ValueError(f"{name} must have between {MIN_OPTIONS} and {MAX_OPTIONS} options "
                         f"per set (axis -2), got {k}")
    return array


def _choice_array(value: object, shape: tuple[int, int, int]) -> np.ndarray:
    """choices (U, R) as int64, each in [0, K)."""
    if isinstance(value, (str, bytes)):
        raise TypeError("choices must be an integer array")
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"choices must be a rectangular integer array: {error}") from None
    if array.dtype.kind not in "iu":
        raise TypeError(f"choices must hold integers, got dtype {array.dtype}")
    n_users, n_rounds, k = shape
    if array.shape != (n_users, n_rounds):
        raise ValueError(f"choices must have shape (U, R) = {(n_users, n_rounds)}, got "
                         f"{array.shape}")
    if array.size and (array.min() < 0 or array.max() >= k):
        raise ValueError(f"choices must be option indices in [0, {k}), got values from "
                         f"{array.min()} to {array.max()}")
    return np.ascontiguousarray(array, dtype=np.int64)


def _choice_model(choice_model: object, beta: object, epsilon: object) -> ChoiceModel:
    """A ChoiceModel (validated by its constructor) from a ChoiceModel or a kind name plus
    beta / epsilon."""
    if isinstance(choice_model, ChoiceModel):
        if beta is not None or epsilon is not None:
            raise ValueError("beta and epsilon must be None when choice_model is a ChoiceModel; "
                             "put them in the ChoiceModel")
        return choice_model
    if not isinstance(choice_model, str):
        raise TypeError(f"choice_model must be a str or a ChoiceModel, got "
                        f"{type(choice_model).__name__}")
    return ChoiceModel(choice_model, beta, epsilon)  # type: ignore[arg-type]


def _model_arguments(model: ChoiceModel) -> tuple[str, float, float]:
    """(kind, beta, epsilon) for the core, NaN for an absent parameter."""
    beta = math.nan if model.beta is None else model.beta
    epsilon = math.nan if model.epsilon is None else model.epsilon
    return model.kind, beta, epsilon


def _check_scale(name: str, x: np.ndarray, grid: HypothesisGrid, model: ChoiceModel) -> None:
    """Refuse options whose utilities (times beta) could overflow the log-space maths."""
    if x.size == 0:
        return
    scale = float(np.abs(x).max()) * max(abs(v) for v in grid.levels) * grid.n_features
    if model.kind == "softmax":
        scale *= model.beta
    if not scale <= MAX_UTILITY_SCALE:
        raise ValueError(f"{name} is too large: max|x| * max|level| * F"
                         f"{' * beta' if model.kind == 'softmax' else ''} = {scale:g} exceeds "
                         f"{MAX_UTILITY_SCALE:g}, where utilities could overflow")


def _check_user_scale(w: np.ndarray, x: np.ndarray, name: str) -> None:
    """Refuse user weights and options whose utilities could overflow."""
    if w.size == 0 or x.size == 0:
        return
    scale = float(np.abs(w).max()) * float(np.abs(x).max()) * w.shape[1]
    if not scale <= MAX_UTILITY_SCALE:
        raise ValueError(f"user_weights and {name} are too large: max|w| * max|x| * F = "
                         f"{scale:g} exceeds {MAX_UTILITY_SCALE:g}, where utilities could "
                         f"overflow")
