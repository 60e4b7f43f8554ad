"""The paper's numbers: all 624 flight users, 5 rounds, 100 held-out sets (seed 0)."""

from __future__ import annotations

import numpy as np
import pytest
from bayesflight.assistants import make_assistant
from bayesflight.domains import FLIGHT
from bayesflight.evalset import make_eval_set
from bayesflight.metrics import heldout_accuracy_per_user, summarise
from bayesflight.protocol import run_assistant
from bayesflight.reference import evaluate_bayesian, hypothesis_grid

# The task's NumPy sketch of the Bayesian assistant: before any round, then after rounds 1..5.
SKETCH = [0.40, 0.58, 0.68, 0.74, 0.78, 0.81]


@pytest.fixture(scope="module")
def paper():
    evalset = make_eval_set(FLIGHT, seed=0)
    bayes = run_assistant(make_assistant("bayesian", FLIGHT), evalset)
    return evalset, bayes


def test_bayesian_assistant_reaches_81_percent(paper) -> None:
    evalset, bayes = paper
    accuracy = summarise(bayes, evalset, bayes)["heldout_accuracy"]
    assert evalset.n_users == 624
    assert abs(accuracy[0] - 0.40) < 0.02
    assert abs(accuracy[-1] - 0.81) < 0.02
    assert np.allclose(accuracy, SKETCH, atol=0.02)
    assert np.all(np.diff(accuracy) > 0)


@pytest.mark.parametrize("name,expected,tol", [("oracle", 1.0, 0.0), ("random", 1 / 3, 0.02),
                                               ("prior-majority", 0.40, 0.02)])
def test_baselines_are_flat(paper, name: str, expected: float, tol: float) -> None:
    evalset, bayes = paper
    transcript = run_assistant(make_assistant(name, FLIGHT), evalset, progress=False)
    accuracy = np.array(summarise(transcript, evalset, bayes)["heldout_accuracy"])
    assert np.all(np.abs(accuracy - expected) <= tol)


def test_core_protocol_equals_the_reference_user_by_user(paper) -> None:
    evalset, bayes = paper
    users = np.arange(0, 624, 24)  # 26 users across the grid
    expected, round_pred = evaluate_bayesian(hypothesis_grid(4), evalset.user_weights[users],
                                             evalset.rounds[users], evalset.heldout)
    assert np.array_equal(heldout_accuracy_per_user(bayes, evalset)[users], expected)
    assert np.allclose(bayes.round_predictive[users], round_pred, rtol=1e-10, atol=1e-14)
