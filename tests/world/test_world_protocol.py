"""The paper's protocol loop, its transcript (checkpoints, resume) and the metrics on it."""

from __future__ import annotations

import numpy as np
import pytest
from bayesflight.assistants import Assistant, OracleAssistant, RandomAssistant, make_assistant
from bayesflight.domains import FLIGHT
from bayesflight.evalset import make_eval_set
from bayesflight.metrics import KL_FLOOR, answer_shares, kl_divergence, mean_ci95, summarise
from bayesflight.protocol import Transcript, run_assistant


class Recorder(Assistant):
    """Logs every call; its predictive is a fixed function of the options and the history."""

    name = "recorder"

    def __init__(self, knows_user: bool = False) -> None:
        self.knows_user = knows_user
        self.log: list[tuple] = []
        self.seen = 0

    def reset(self, user_weights: np.ndarray | None = None) -> None:
        self.log.append(("reset", None if user_weights is None else user_weights.tolist()))
        self.seen = 0

    def predict(self, options: np.ndarray) -> np.ndarray:
        self.log.append(("predict", options.shape))
        scores = options.sum(axis=-1) + self.seen
        return np.exp(scores) / np.exp(scores).sum(axis=-1, keepdims=True)

    def observe(self, options: np.ndarray, recommended: int, choice: int) -> None:
        self.log.append(("observe", options.tolist(), recommended, choice))
        self.seen += 1


@pytest.fixture(scope="module")
def small():
    return make_eval_set(FLIGHT, seed=2, n_users=4, n_rounds=3, n_heldout=7)


def test_protocol_calls_in_the_papers_order(small) -> None:
    rec = Recorder()
    t = run_assistant(rec, small, progress=False)
    held = ("predict", (7, 3, 4))
    per_user = 1 + (3 * 3 + 1)
    assert len(rec.log) == 4 * per_user
    for u in range(4):
        calls = rec.log[u * per_user:(u + 1) * per_user]
        assert calls[0] == ("reset", None)
        for r in range(3):
            h, p, o = calls[1 + 3 * r:4 + 3 * r]
            assert h == held and p == ("predict", (3, 4))
            assert o[1] == small.rounds[u, r].tolist()
            assert o[2] == t.round_recommendations[u, r] and o[3] == small.choices[u, r]
        assert calls[-1] == held
    assert t.completed.all()
    expected = np.exp(small.heldout.sum(-1) + 3)
    assert np.allclose(t.heldout_predictive[:, 3], expected / expected.sum(-1, keepdims=True))
    assert np.array_equal(t.heldout_recommendations, t.heldout_predictive.argmax(-1))
    assert np.array_equal(t.round_recommendations, t.round_predictive.argmax(-1))


def test_only_an_assistant_that_knows_the_user_is_told(small) -> None:
    rec = Recorder(knows_user=True)
    run_assistant(rec, small, progress=False)
    resets = [c[1] for c in rec.log if c[0] == "reset"]
    assert resets == small.user_weights.tolist()


def test_an_assistant_with_its_own_recommend_is_asked(small) -> None:
    t = run_assistant(RandomAssistant(seed=0), make_eval_set(FLIGHT, 0, 100, 5, 30), False)
    assert set(np.unique(t.heldout_recommendations)) == {0, 1, 2}
    assert np.allclose(t.heldout_predictive, 1 / 3)


class Broken(Recorder):
    def __init__(self, result: np.ndarray) -> None:
        super().__init__()
        self.result = result

    def predict(self, options: np.ndarray) -> np.ndarray:
        return self.result


@pytest.mark.parametrize("result,match", [
    (np.full(3, 1 / 3), "shape"), (np.full((7, 3), 0.5), "sum"),
    (np.tile([1.5, -0.5, 0.0], (7, 1)), "probabilities"),
])
def test_a_malformed_predictive_is_refused(small, result: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        run_assistant(Broken(result), small, progress=False)


class Stop(Exception):
    pass


def test_checkpoint_and_resume_give_the_uninterrupted_transcript(small, tmp_path) -> None:
    full = run_assistant(Recorder(), small, progress=False)
    path = tmp_path / "partial.npz"

    def checkpoint(u: int, t: Transcript) -> None:
        t.save(path)
        if u == 1:
            raise Stop

    with pytest.raises(Stop):
        run_assistant(Recorder(), small, progress=False, on_user=checkpoint)
    partial = Transcript.load(path)
    assert partial.completed.tolist() == [True, True, False, False]
    again = Recorder()
    done = []
    resumed = run_assistant(again, small, progress=False, resume=partial,
                            on_user=lambda u, t: done.append(u))
    assert done == [2, 3] and sum(c[0] == "reset" for c in again.log) == 2
    for name in ("heldout_predictive", "heldout_recommendations", "round_predictive",
                 "round_recommendations", "completed"):
        assert np.array_equal(getattr(resumed, name), getattr(full, name)), name


def test_resume_and_load_check_what_they_are_given(small, tmp_path) -> None:
    other = make_eval_set(FLIGHT, seed=2, n_users=4, n_rounds=2, n_heldout=7)
    with pytest.raises(ValueError, match="heldout_predictive has shape"):
        run_assistant(Recorder(), small, progress=False, resume=Transcript.empty(other))
    np.savez(tmp_path / "x.npz", a=np.zeros(2))
    with pytest.raises(ValueError, match="not a transcript"):
        Transcript.load(tmp_path / "x.npz")


def test_summary_of_the_oracle_and_the_bayesian(small) -> None:
    bayes = run_assistant(make_assistant("bayesian", FLIGHT), small)
    oracle = run_assistant(OracleAssistant(), small, progress=False)
    s = summarise(oracle, small, bayes)
    assert s["heldout_accuracy"] == [1.0] * 4
    assert s["heldout_accuracy_ci95"] == [[1.0, 1.0]] * 4
    assert s["interaction_accuracy"] == [1.0] * 3
    per_user = (bayes.heldout_recommendations == small.heldout_choices[:, None]).mean(-1)
    assert np.allclose(s["agreement_with_bayesian"], per_user.mean(0))
    assert all(np.isfinite(s["kl_from_bayesian"])) and min(s["kl_from_bayesian"]) > 0
    b = summarise(bayes, small, bayes)
    assert b["agreement_with_bayesian"] == [1.0] * 4 and b["kl_from_bayesian"] == [0.0] * 4
    assert np.allclose(b["heldout_accuracy"], per_user.mean(0))
    assert (s["n_users"], s["n_heldout"]) == (4, 7)


def test_answer_shares_say_which_position_an_assistant_answers(small) -> None:
    oracle = run_assistant(OracleAssistant(), small, progress=False)
    shares = answer_shares(oracle, 3)
    want = np.bincount(small.heldout_choices.ravel(), minlength=3) / small.heldout_choices.size
    assert shares.shape == (3,) and np.allclose(shares, want) and shares.sum() == pytest.approx(1)
    first = Transcript.empty(small)
    first.heldout_recommendations[:] = 0  # one position whatever the options
    assert answer_shares(first, 3).tolist() == [1.0, 0.0, 0.0]
    first.heldout_recommendations[0, 0, 0] = 3
    with pytest.raises(ValueError, match="option indices in 0..2"):
        answer_shares(first, 3)


def test_summary_refuses_an_incomplete_transcript(small) -> None:
    bayes = run_assistant(make_assistant("bayesian", FLIGHT), small)
    with pytest.raises(ValueError, match="incomplete"):
        summarise(Transcript.empty(small), small, bayes)


def test_ci95_is_mean_plus_minus_1_96_standard_errors() -> None:
    per_user = np.array([[0.2, 1.0], [0.4, 1.0], [0.6, 1.0], [0.8, 1.0]])
    mean, ci = mean_ci95(per_user)
    half = 1.959963984540054 * np.std([0.2, 0.4, 0.6, 0.8], ddof=1) / 2
    assert np.allclose(mean, [0.5, 1.0])
    assert np.allclose(ci, [[0.5 - half, 0.5 + half], [1.0, 1.0]])
    assert np.allclose(mean_ci95(np.array([[0.3]]))[1], [[0.0, 1.0]])


def test_kl_is_finite_zero_on_itself_and_ignores_zero_mass() -> None:
    p = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.2, 0.3, 0.5]])
    assert np.array_equal(kl_divergence(p, p), np.zeros(3))
    miss = kl_divergence(np.array([1.0, 0.0]), np.array([0.0, 1.0]))
    assert np.isfinite(miss) and np.isclose(miss, -np.log(KL_FLOOR))
    assert np.isclose(kl_divergence(np.array([0.5, 0.5]), np.array([0.25, 0.75])),
                      0.5 * np.log(2) + 0.5 * np.log(2 / 3))
