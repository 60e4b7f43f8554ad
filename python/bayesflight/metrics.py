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
