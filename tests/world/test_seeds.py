"""Repeats over seeds: the t interval, one assistant summarised across seeds, the seeds'
table, and the seeds a command line may give."""

from __future__ import annotations

import numpy as np
import pytest
from bayesflight.metrics import mean_t_ci95, t975
from bayesflight.seeds import across_seeds, format_seeds_table, parse_seeds


def test_the_t_interval_over_seeds_uses_student_quantiles() -> None:
    assert t975(2) == pytest.approx(4.302653)
    assert t975(40) == pytest.approx(2.021075, abs=1e-5)  # past the table
    mean, ci = mean_t_ci95(np.array([[0.30, 0.5], [0.32, 0.5]]))
    half = 12.706205 * np.std([0.30, 0.32], ddof=1) / np.sqrt(2)
    assert np.allclose(mean, [0.31, 0.5])
    assert np.allclose(ci, [[0.31 - half, 0.31 + half], [0.5, 0.5]])
    assert np.allclose(mean_t_ci95(np.array([0.1, 0.9]), low=-1.0)[1], [-1.0, 1.0])  # clipped
    assert mean_t_ci95(np.array([[0.3, 0.4]]))[1] is None  # one seed: no interval over seeds
    with pytest.raises(ValueError, match="df must be a positive integer"):
        t975(0)


def _summary(per_user: np.ndarray) -> dict:
    accuracy = per_user.mean(axis=0)
    return {"heldout_accuracy": accuracy.tolist(), "interaction_accuracy": [0.5],
            "agreement_with_bayesian": [0.5, 0.7], "kl_from_bayesian": [1.0, 0.5],
            "update_gain": float(accuracy[-1] - accuracy[0]), "n_users": len(per_user),
            "n_heldout": 4}


def test_a_summary_across_seeds_is_their_mean_with_both_intervals() -> None:
    users = [np.array([[0.25, 0.5], [0.5, 1.0], [0.25, 0.75]]),
             np.array([[0.5, 0.5], [0.25, 0.75], [0.5, 1.0]])]
    summary = across_seeds([_summary(u) for u in users], users)
    per_seed = [u.mean(axis=0) for u in users]
    assert summary["heldout_accuracy"] == pytest.approx(np.mean(per_seed, axis=0).tolist())
    assert np.allclose(summary["heldout_accuracy_per_seed"], per_seed)
    gains = [p[-1] - p[0] for p in per_seed]
    assert summary["update_gain"] == pytest.approx(np.mean(gains))
    assert summary["update_gain_per_seed"] == pytest.approx(gains)
    lo, hi = summary["update_gain_seeds_ci95"]
    assert lo < summary["update_gain"] < hi
    seeds_ci, users_ci = (np.array(summary[k]) for k in ("heldout_accuracy_seeds_ci95",
                                                          "heldout_accuracy_ci95"))
    assert seeds_ci.shape == users_ci.shape == (2, 2)
    # Over users: each user's accuracy averaged over the two seeds, three users.
    averaged = (users[0] + users[1]) / 2
    half = 1.959963984540054 * averaged.std(axis=0, ddof=1) / np.sqrt(3)
    assert users_ci[:, 1] == pytest.approx(np.minimum(averaged.mean(axis=0) + half, 1.0))
    assert summary["n_seeds"] == 2 and summary["kl_from_bayesian"] == [1.0, 0.5]
    one = across_seeds([_summary(users[0])], users[:1])
    assert one["heldout_accuracy_seeds_ci95"] is None and one["update_gain_seeds_ci95"] is None
    with pytest.raises(ValueError, match="same users and rounds"):
        across_seeds([_summary(users[0])] * 2, [users[0], users[0][:2]])


def test_the_seeds_table_shows_both_intervals_and_the_update_gain() -> None:
    users = [np.array([[0.25, 0.5], [0.5, 1.0]]), np.array([[0.5, 0.5], [0.25, 0.75]])]
    once = _summary(users[0]) | {"heldout_accuracy_ci95": [[0, 1], [0, 1]],
                                 "update_gain_ci95": [-1, 1]}
    table = format_seeds_table({"original": once,
                                "taught": across_seeds([_summary(u) for u in users], users)},
                               seeds=(0, 1))
    assert "Across 2 seeds (0, 1)" in table
    assert "update gain (round 1 − round 0)" in table
    original, taught = table.splitlines()[-2:]
    assert original.count("—") == 2 and "—" not in taught


@pytest.mark.parametrize(("text", "message"), [
    ("0,x", "comma-separated non-negative integers"),
    ("0,-1", "non-negative integers"),
    ("1,1", "must not repeat a seed"),
    ("", "comma-separated"),
])
def test_bad_seeds_are_named(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"--seeds .*{message}|{message}"):
        parse_seeds(text)
    assert parse_seeds("2, 0") == (2, 0)
