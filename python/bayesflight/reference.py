"""The maths of bayesflight in plain NumPy, written for clarity: the specification.

The C++ core (``bayesflight._core``) must agree with these functions: posteriors to
1e-12 relative, recommendations and choices exactly. Shapes follow NumPy habits:
M hypotheses, F features, K options per set, N option sets, U users, R rounds.

Ties are decided on purpose, never by floating-point luck:

* a user's utilities within ``UTILITY_TIE_TOL`` of the maximum are ties, and the
  lowest such option index is the choice;
* predictive probabilities within ``PROBABILITY_TIE_TOL`` of the maximum are ties,
  and the lowest such option index is the recommendation.
"""

from __future__ import annotations

import itertools
import math
import numbers
from dataclasses import dataclass

import numpy as np

DEFAULT_LEVELS: tuple[float, ...] = (-1.0, -0.5, 0.0, 0.5, 1.0)
UTILITY_TIE_TOL = 1e-9
PROBABILITY_TIE_TOL = 1e-12
CHOICE_MODELS = ("deterministic", "softmax", "epsilon")


class ImpossibleObservationError(ValueError):
    """A deterministic update would leave no hypothesis: the user is noisier than the model."""


@dataclass(frozen=True)
class ChoiceModel:
    """How a user with reward weights ``w`` picks among options.

    ``deterministic``: the best option (ties to the lowest index) with probability 1.
    ``softmax``: P(k) = exp(beta u_k) / sum_j exp(beta u_j), finite beta > 0.
    ``epsilon``: (1 - epsilon) deterministic + epsilon / K, 0 < epsilon < 1.

    Validated on construction, the one place choice models are checked: a ValueError or
    TypeError names ``choice_model``, ``beta`` or ``epsilon``. ``beta`` and ``epsilon`` are
    stored as floats, and each is None unless its model needs it.
    """

    kind: str = "deterministic"
    beta: float | None = None
    epsilon: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in CHOICE_MODELS:
            raise ValueError(f"choice_model must be one of {CHOICE_MODELS}, got {self.kind!r}")
        for name, needed_by in (("beta", "softmax"), ("epsilon", "epsilon")):
            value = getattr(self, name)
            if value is None:
                continue
            if not isinstance(value, numbers.Real) or isinstance(value, (bool, np.bool_)):
                raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
            if self.kind != needed_by:
                raise ValueError(f"{name} must be None for the {self.kind} choice model, "
                                 f"got {value}")
            object.__setattr__(self, name, float(value))
        if self.kind == "softmax" and not (
                self.beta is not None and math.isfinite(self.beta) and self.beta > 0):
            raise ValueError(f"beta must be a finite number > 0 for the softmax choice model, "
                             f"got {self.beta}")
        if self.kind == "epsilon" and not (self.epsilon is not None and 0 < self.epsilon < 1):
            raise ValueError(f"epsilon must be a number in (0, 1) for the epsilon choice model, "
                             f"got {self.epsilon}")

    @classmethod
    def parse(cls, text: str) -> ChoiceModel:
        """``deterministic``, ``softmax:BETA`` or ``epsilon:EPS``, as the CLI's options take it."""
        kind, _, value = text.partition(":")
        parameter = {"softmax": "beta", "epsilon": "epsilon"}.get(kind)
        try:
            if parameter is None:
                if value:
                    raise ValueError(f"the {kind} choice model takes no parameter")
                return cls(kind)
            return cls(kind, **{parameter: float(value)})
        except (TypeError, ValueError) as error:
            raise ValueError(f"choice model must be 'deterministic', 'softmax:BETA' with "
                             f"BETA > 0 or 'epsilon:EPS' with 0 < EPS < 1; got {text!r}"
                             ) from error


def hypothesis_grid(n_features: int, levels: tuple[float, ...] = DEFAULT_LEVELS) -> np.ndarray:
    """Every weight vector over ``levels`` except all-zero, lexicographic in level order: (M, F)."""
    rows = [w for w in itertools.product(levels, repeat=n_features) if any(v != 0 for v in w)]
    return np.array(rows, dtype=np.float64).reshape(len(rows), n_features)


def grid_size(n_features: int, levels: tuple[float, ...] = DEFAULT_LEVELS) -> int:
    """M, the number of rows of ``hypothesis_grid(n_features, levels)``, without building it."""
    return len(levels) ** n_features - (0.0 in levels)


def grid_rows(weights: np.ndarray, levels: tuple[float, ...] = DEFAULT_LEVELS) -> np.ndarray:
    """Each weight vector's row in ``hypothesis_grid(F, levels)``: weights (..., F) -> (...) int64.

    The inverse of the grid: every weight must be one of ``levels`` (within 1e-9), and the
    all-zero vector, which the grid leaves out, has no row.
    """
    w = np.asarray(weights, dtype=np.float64)
    hits = np.abs(w[..., None] - np.asarray(levels, dtype=np.float64)) < 1e-9  # (..., F, L)
    if w.ndim < 1 or not hits.any(axis=-1).all():
        raise ValueError(f"weights must be (..., F) values from {levels}, got shape {w.shape}")
    shape = (len(levels),) * w.shape[-1]
    codes = np.ravel_multi_index(tuple(np.moveaxis(hits.argmax(axis=-1), -1, 0)), shape)
    if 0.0 in levels:  # the grid skips the all-zero vector: the rows after it move up by one
        zero = np.ravel_multi_index((levels.index(0.0),) * w.shape[-1], shape)
        if np.any(codes == zero):
            raise ValueError("weights must not be all zero: the hypothesis grid leaves it out")
        codes = codes - (codes > zero)
    return np.asarray(codes, dtype=np.int64)


def utilities(weights: np.ndarray, options: np.ndarray) -> np.ndarray:
    """u[..., h, k] = w_h . x_k for weights (M, F) and options (..., K, F): (..., M, K)."""
    return np.einsum("mf,...kf->...mk", weights, options)


def best_option(u: np.ndarray) -> np.ndarray:
    """The deterministic user's choice along the last axis: the lowest index within tolerance."""
    return np.argmax(u >= u.max(axis=-1, keepdims=True) - UTILITY_TIE_TOL, axis=-1)


def recommend_from(predictive: np.ndarray) -> np.ndarray:
    """The recommendation along the last axis: the lowest index within tolerance of the max."""
    top = predictive.max(axis=-1, keepdims=True)
    return np.argmax(predictive >= top - PROBABILITY_TIE_TOL, axis=-1)


def log_likelihood(weights: np.ndarray, options: np.ndarray, model: ChoiceModel) -> np.ndarray:
    """log P(choice = k | h) for weights (M, F) and options (..., K, F): (..., M, K)."""
    u = utilities(weights, options)
    k = u.shape[-1]
    if model.kind == "softmax":
        z = model.beta * u
        top = z.max(axis=-1, keepdims=True)
        return z - (top + np.log(np.exp(z - top).sum(axis=-1, keepdims=True)))
    one_hot = best_option(u)[..., None] == np.arange(k)
    if model.kind == "deterministic":
        with np.errstate(divide="ignore"):
            return np.log(one_hot.astype(np.float64))
    if model.kind == "epsilon":
        return np.log((1.0 - model.epsilon) * one_hot + model.epsilon / k)
    raise ValueError(f"model.kind must be one of {CHOICE_MODELS}, got {model.kind!r}")


def normalise(log_p: np.ndarray) -> np.ndarray:
    """Subtract the log-sum-exp so that exp(log_p) sums to 1; -inf stays -inf."""
    top = np.max(log_p)
    if not np.isfinite(top):
        raise ImpossibleObservationError("no hypothesis has positive probability")
    return log_p - (top + np.log(np.exp(log_p - top).sum()))


def uniform_log_prior(n_hypotheses: int) -> np.ndarray:
    """log(1/M) for every hypothesis: (M,)."""
    return np.full(n_hypotheses, -np.log(n_hypotheses))


def update(
    log_posterior: np.ndarray,
    weights: np.ndarray,
    options: np.ndarray,
    choice: int,
    model: ChoiceModel,
) -> np.ndarray:
    """Bayes' rule after the user picks ``choice`` from options (K, F): the new log-posterior (M,).

    Raises ImpossibleObservationError when no hypothesis could have made that choice.
    """
    return normalise(log_posterior + log_likelihood(weights, options, model)[:, choice])


def predictive(
    log_posterior: np.ndarray, weights: np.ndarray, options: np.ndarray, model: ChoiceModel
) -> np.ndarray:
    """P(choice = k) under the posterior for options (..., K, F): (..., K)."""
    lik = np.exp(log_likelihood(weights, options, model))  # (..., M, K)
    return np.einsum("m,...mk->...k", np.exp(log_posterior), lik)


def entropy(log_posterior: np.ndarray) -> float:
    """Shannon entropy in nats; zero-probability hypotheses contribute nothing."""
    p = np.exp(log_posterior)
    alive = p > 0
    return float(-(p[alive] * log_posterior[alive]).sum())


def posterior_mean(log_posterior: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """E[w] under the posterior: (F,)."""
    return np.exp(log_posterior) @ weights


def evaluate_bayesian(
    weights: np.ndarray,
    user_weights: np.ndarray,
    rounds: np.ndarray,
    heldout: np.ndarray,
    model: ChoiceModel = ChoiceModel(),
) -> tuple[np.ndarray, np.ndarray]:
    """The paper's protocol for the Bayesian assistant, one user at a time.

    user_weights (U, F); rounds (U, R, K, F), the interaction option sets of each user;
    heldout (N, K', F), the same held-out sets for every user. Each user chooses
    deterministically by their true weights and the assistant updates on that choice.

    Returns (heldout_accuracy (U, R + 1), round_predictive (U, R, K)): the held-out
    accuracy before any round and after each round, and the assistant's predictive
    on each interaction round before the user's choice is revealed.
    """
    n_users, n_rounds, k, _ = rounds.shape
    accuracy = np.empty((n_users, n_rounds + 1))
    round_pred = np.empty((n_users, n_rounds, k))
    truth_heldout = best_option(utilities(user_weights, heldout))  # (N, U)
    for u in range(n_users):
        log_p = uniform_log_prior(len(weights))
        for r in range(n_rounds + 1):
            rec = recommend_from(predictive(log_p, weights, heldout, model))
            accuracy[u, r] = np.mean(rec == truth_heldout[:, u])
            if r == n_rounds:
                break
            x = rounds[u, r]
            round_pred[u, r] = predictive(log_p, weights, x, model)
            choice = int(best_option(x @ user_weights[u]))
            log_p = update(log_p, weights, x, choice, model)
    return accuracy, round_pred
