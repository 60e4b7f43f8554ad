"""Repeats of the experiment over seeds: which seeds, one assistant's results summarised across
them, and the table that shows both kinds of uncertainty.

Every seed is evaluated on the same users and held-out sets, so two intervals can be told
apart: the 95% CI over users (of each user's accuracy averaged over the seeds: how much the
evaluation sample decides) and the t 95% CI over seeds (of the per-seed means: how much the
teaching data and the training decide).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .metrics import mean_ci95, mean_t_ci95


def check_seeds(seeds: Sequence[int], name: str = "seeds") -> tuple[int, ...]:
    """``seeds`` as a tuple; ValueError unless they are distinct non-negative integers."""
    seeds = tuple(seeds)
    if not seeds or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds):
        raise ValueError(f"{name} must be one or more non-negative integers, got "
                         f"{','.join(map(str, seeds)) or 'none'}")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"{name} must not repeat a seed, got {','.join(map(str, seeds))}")
    return seeds


def parse_seeds(text: str, name: str = "--seeds") -> tuple[int, ...]:
    """``"0,1,2"`` -> ``(0, 1, 2)``; ValueError naming ``name`` for anything else."""
    try:
        seeds = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"{name} must be comma-separated non-negative integers such as 0,1,2, "
                         f"got {text!r}") from None
    return check_seeds(seeds, name)


def across_seeds(summaries: Sequence[dict[str, Any]],
                 per_user: Sequence[np.ndarray]) -> dict[str, Any]:
    """One assistant's results over seeds, as one summary (results.json's schema, plus the
    seeds' own keys).

    ``summaries`` holds one ``metrics.summarise`` result per seed and ``per_user`` each seed's
    held-out accuracy per user (U, R+1), all on the same evaluation set. The per-round scores
    are the means over seeds; ``heldout_accuracy_ci95`` and ``update_gain_ci95`` are over
    users, ``*_seeds_ci95`` the t intervals over seeds (None with a single seed), and
    ``*_per_seed`` each seed's own value, in the order given.
    """
    if not summaries or len(summaries) != len(per_user):
        raise ValueError(f"summaries and per_user must hold one entry per seed, got "
                         f"{len(summaries)} and {len(per_user)}")
    shapes = {np.shape(u) for u in per_user}
    if len(shapes) != 1:
        raise ValueError(f"per_user must cover the same users and rounds for every seed, got "
                         f"shapes {sorted(shapes)}")
    accuracy = np.array([s["heldout_accuracy"] for s in summaries], dtype=float)  # (S, R+1)
    users = np.mean(np.stack(per_user), axis=0)  # each user's accuracy averaged over seeds
    gains = accuracy[:, -1] - accuracy[:, 0]
    mean, seeds_ci = mean_t_ci95(accuracy)
    gain, gain_seeds_ci = mean_t_ci95(gains, low=-1.0)
    _, users_ci = mean_ci95(users)
    _, gain_users_ci = mean_ci95(users[:, -1] - users[:, 0], low=-1.0)

    def mean_of(key: str) -> list[float]:
        return np.mean([s[key] for s in summaries], axis=0).tolist()

    return {
        "heldout_accuracy": mean.tolist(),
        "heldout_accuracy_ci95": users_ci.tolist(),
        "heldout_accuracy_seeds_ci95": None if seeds_ci is None else seeds_ci.tolist(),
        "heldout_accuracy_per_seed": accuracy.tolist(),
        "update_gain": float(gain),
        "update_gain_ci95": gain_users_ci.tolist(),
        "update_gain_seeds_ci95": None if gain_seeds_ci is None else gain_seeds_ci.tolist(),
        "update_gain_per_seed": gains.tolist(),
        "interaction_accuracy": mean_of("interaction_accuracy"),
        "agreement_with_bayesian": mean_of("agreement_with_bayesian"),
        "kl_from_bayesian": mean_of("kl_from_bayesian"),
        "n_users": summaries[0]["n_users"],
        "n_heldout": summaries[0]["n_heldout"],
        "n_seeds": len(summaries),
    }


def _interval(interval: Sequence[float] | None) -> str:
    return "—" if interval is None else f"[{interval[0]:.3f}, {interval[1]:.3f}]"


def format_seeds_table(summaries: dict[str, dict[str, Any]], seeds: Sequence[int]) -> str:
    """Markdown: per assistant, held-out accuracy before any round and after the last, and the
    update gain (last round minus round 0), each with its 95% CI over users and over seeds.
    Summaries without seeds (assistants evaluated once) show "—" in the seeds' columns."""
    n = max(len(s["heldout_accuracy"]) for s in summaries.values()) - 1
    lines = [f"Across {len(seeds)} seeds ({', '.join(map(str, seeds))}): held-out accuracy "
             f"and update gain, the mean with its 95% CI over users and t 95% CI over seeds "
             f"(teaching data and training; the original model and the Bayesian assistant are "
             f"evaluated once).", "",
             f"| model | round 0 | round {n} | round {n}: CI over users | round {n}: CI over "
             f"seeds | update gain (round {n} − round 0) | gain: CI over users | gain: CI over "
             f"seeds |",
             "|---" * 8 + "|"]
    for name, s in summaries.items():
        seeds_ci = s.get("heldout_accuracy_seeds_ci95")
        lines.append(
            f"| {name} | {s['heldout_accuracy'][0]:.3f} | {s['heldout_accuracy'][-1]:.3f} | "
            f"{_interval(s['heldout_accuracy_ci95'][-1])} | "
            f"{_interval(None if seeds_ci is None else seeds_ci[-1])} | "
            f"{s['update_gain']:+.3f} | {_interval(s['update_gain_ci95'])} | "
            f"{_interval(s.get('update_gain_seeds_ci95'))} |")
    return "\n".join(lines) + "\n"
