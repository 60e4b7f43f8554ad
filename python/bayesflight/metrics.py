"""Scores of a transcript: held-out accuracy with 95% CIs, the update gain (accuracy after the
last round minus before the first, with its CI over users), interaction accuracy, and
agreement and KL divergence with the Bayesian assistant, per round.

Held-out entries are indexed by rounds completed (0 = before any round, R = after the last);
interaction entries by round (1..R).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .evalset import EvalSet
from .transcript import Transcript

Z95 = 1.959963984540054
# Student's t 0.975 quantiles for 1..30 degrees of freedom (a 95% interval over few seeds).
T975 = (12.706205, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912, 2.364624, 2.306004,
        2.262157, 2.228139, 2.200985, 2.178813, 2.160369, 2.144787, 2.131450, 2.119905,
        2.109816, 2.100922, 2.093024, 2.085963, 2.079614, 2.073873, 2.068658, 2.063899,
        2.059539, 2.055529, 2.051831, 2.048407, 2.045230, 2.042272)
# Inside the KL the assistant's probabilities are floored here (not renormalised): a KL of
# two equal distributions stays exactly 0, and a confident miss costs log(p / 1e-6), at most
# 13.8 nats, instead of infinity.
KL_FLOOR = 1e-6


def mean_ci95(per_user: np.ndarray, low: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Mean over users (axis 0) and its normal 95% interval, mean ± 1.96 standard errors,
    clipped to [low, 1] (``low`` = -1 for a difference of accuracies); with a single user the
    interval is all of [low, 1]. Returns (mean (...,), interval (..., 2))."""
    mean = per_user.mean(axis=0)
    n = per_user.shape[0]
    if n < 2:
        return mean, np.stack([np.full_like(mean, low), np.ones_like(mean)], axis=-1)
    half = Z95 * per_user.std(axis=0, ddof=1) / np.sqrt(n)
    return mean, np.clip(np.stack([mean - half, mean + half], axis=-1), low, 1.0)


def format_ci(mean: float, interval: tuple[float, float], digits: int = 3) -> str:
    """``mean ± half-width`` of a 95% interval: the one way every table writes a CI cell."""
    lo, hi = interval
    return f"{mean:.{digits}f} ± {(hi - lo) / 2:.{digits}f}"


def t975(df: int) -> float:
    """Student's t 0.975 quantile with ``df`` degrees of freedom: the table up to 30, then the
    Cornish-Fisher expansion around the normal quantile (error under 1e-5 there)."""
    if isinstance(df, bool) or not isinstance(df, int) or df < 1:
        raise ValueError(f"df must be a positive integer, got {df!r}")
    if df <= len(T975):
        return T975[df - 1]
    z = Z95
    return (z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
            + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3))


def mean_t_ci95(per_run: np.ndarray, low: float = 0.0) -> tuple[np.ndarray, np.ndarray | None]:
    """Mean over runs (axis 0: seeds) and its t 95% interval, mean ± t(n-1) standard errors,
    clipped to [low, 1]: the spread of a few repeats of the whole experiment. With a single run
    there is no interval (None). Returns (mean (...,), interval (..., 2) or None)."""
    mean = per_run.mean(axis=0)
    n = per_run.shape[0]
    if n < 2:
        return mean, None
    half = t975(n - 1) * per_run.std(axis=0, ddof=1) / np.sqrt(n)
    return mean, np.clip(np.stack([mean - half, mean + half], axis=-1), low, 1.0)


def kl_divergence(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """KL(p || q) along the last axis in nats, finite: terms with p = 0 count 0 and q is
    floored at KL_FLOOR; rounding below 0 is clipped to 0."""
    q = np.maximum(q, KL_FLOOR)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(p) - np.log(q)), 0.0)
    return np.maximum(terms.sum(axis=-1), 0.0)


def heldout_accuracy_per_user(transcript: Transcript, evalset: EvalSet) -> np.ndarray:
    """Each user's held-out accuracy before any round and after each round: (U, R+1)."""
    hits = transcript.heldout_recommendations == evalset.heldout_choices[:, None, :]
    return hits.mean(axis=-1)


def answer_shares(transcript: Transcript, n_options: int) -> np.ndarray:
    """How often an assistant answers each option position on the held-out questions, over
    every user and round: (K,) float64 summing to 1. A model that answers one position
    whatever the options (what a model that learnt nothing of the options does) puts 1.0
    there, and its accuracy is then that of a fixed answer, the same in every round."""
    answers = np.asarray(transcript.heldout_recommendations).ravel()
    if answers.size == 0 or answers.min() < 0 or answers.max() >= n_options:
        raise ValueError(f"heldout_recommendations must be option indices in 0..{n_options - 1}")
    return np.bincount(answers, minlength=n_options) / answers.size


def summarise(transcript: Transcript, evalset: EvalSet, bayesian: Transcript) -> dict[str, Any]:
    """The per-round scores of one assistant, as JSON-ready lists (results.json's schema)."""
    for t in (transcript, bayesian):
        t.check_matches(evalset)
        if not t.completed.all():
            raise ValueError(f"transcript is incomplete: {int((~t.completed).sum())} of "
                             f"{evalset.n_users} users not run")
    per_user = heldout_accuracy_per_user(transcript, evalset)
    accuracy, interval = mean_ci95(per_user)
    gain, gain_interval = mean_ci95(per_user[:, -1] - per_user[:, 0], low=-1.0)
    interaction = (transcript.round_recommendations == evalset.choices).mean(axis=0)
    agreement = (transcript.heldout_recommendations == bayesian.heldout_recommendations).mean(
        axis=(0, 2))
    kl = kl_divergence(bayesian.heldout_predictive, transcript.heldout_predictive).mean(
        axis=(0, 2))
    return {
        "heldout_accuracy": accuracy.tolist(),
        "heldout_accuracy_ci95": interval.tolist(),
        "update_gain": float(gain),  # after the last round minus before the first, per user
        "update_gain_ci95": gain_interval.tolist(),
        "interaction_accuracy": interaction.tolist(),
        "agreement_with_bayesian": agreement.tolist(),
        "kl_from_bayesian": kl.tolist(),
        "n_users": evalset.n_users,
        "n_heldout": evalset.n_heldout,
    }
