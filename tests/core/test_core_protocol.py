"""run_protocol against the reference protocol and against the belief, step by step."""

from __future__ import annotations

import numpy as np
import pytest
from bayesflight import Belief, HypothesisGrid, ImpossibleObservationError, run_protocol
from bayesflight import reference as ref
from core_strategies import any_model, grids, option_sets
from hypothesis import given
from hypothesis import strategies as st


def users_and_rounds(draw: st.DrawFn, grid: HypothesisGrid, n_users: int, n_rounds: int,
                     k: int) -> tuple[np.ndarray, np.ndarray]:
    """Users on the grid and their rounds (U, R, K, F) on a 0.1 lattice, with ties."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    users = grid.weights[rng.integers(len(grid), size=n_users)]
    rounds = rng.integers(0, 11, size=(n_users, n_rounds, k, grid.n_features)) / 10
    return users, rounds


@given(grid=grids(max_features=4), model=any_model, data=st.data())
def test_the_protocol_matches_the_reference(grid: HypothesisGrid, model: ref.ChoiceModel,
                                            data: st.DataObject) -> None:
    n_users, n_rounds = data.draw(st.integers(0, 5)), data.draw(st.integers(0, 4))
    users, rounds = users_and_rounds(data.draw, grid, n_users, n_rounds,
                                     data.draw(st.integers(2, 4)))
    heldout = data.draw(option_sets(grid.n_features))
    out = run_protocol(grid, users, rounds, heldout, choice_model=model,
                       return_heldout_predictive=True)
    accuracy, round_predictive = ref.evaluate_bayesian(grid.weights, users, rounds, heldout,
                                                       model)
    np.testing.assert_allclose(out.heldout_accuracy, accuracy, rtol=0, atol=1e-15)
    np.testing.assert_allclose(out.round_predictive, round_predictive, rtol=1e-12, atol=1e-300)
    assert out.round_predictive.shape == (n_users, n_rounds, rounds.shape[2])
    assert out.heldout_predictive.shape == (n_users, n_rounds + 1, *heldout.shape[:2])


@given(grid=grids(max_features=4), model=any_model, data=st.data())
def test_the_protocol_follows_the_belief_step_by_step(
        grid: HypothesisGrid, model: ref.ChoiceModel, data: st.DataObject) -> None:
    users, rounds = users_and_rounds(data.draw, grid, 2, 3, 3)
    heldout = data.draw(option_sets(grid.n_features))
    if model.kind == "deterministic":  # the users' own choices, so none is impossible
        choices = None
    else:
        choices = np.array(data.draw(st.lists(st.integers(0, 2), min_size=6, max_size=6)))
        choices = choices.reshape(2, 3)
    out = run_protocol(grid, users, rounds, heldout, choices, model,
                       return_heldout_predictive=True, n_threads=2)
    for u in range(2):
        belief = Belief(grid, model)
        truth = ref.best_option(ref.utilities(users[u][None], heldout))[:, 0]
        for r in range(4):
            np.testing.assert_allclose(out.heldout_predictive[u, r], belief.predictive(heldout),
                                       rtol=1e-12, atol=1e-300)
            assert np.array_equal(out.heldout_recommendations[u, r], belief.recommend(heldout))
            assert out.heldout_accuracy[u, r] == np.mean(belief.recommend(heldout) == truth)
            if r == 3:
                break
            x = rounds[u, r]
            assert out.round_recommendations[u, r] == belief.recommend(x)
            np.testing.assert_allclose(out.round_predictive[u, r], belief.predictive(x),
                                       rtol=1e-12, atol=1e-300)
            expected = ref.best_option(x @ users[u]) if choices is None else choices[u, r]
            assert out.choices[u, r] == expected
            belief.update(x, int(out.choices[u, r]))


def test_the_papers_protocol_for_all_624_users() -> None:
    grid = HypothesisGrid(4)
    rng = np.random.default_rng(7)
    rounds = rng.integers(0, 11, size=(624, 5, 3, 4)) / 10
    heldout = rng.integers(0, 11, size=(100, 3, 4)) / 10
    out = run_protocol(grid, grid.weights, rounds, heldout)
    some = np.arange(0, 624, 25)  # the reference is slow: every 25th user
    accuracy, round_predictive = ref.evaluate_bayesian(grid.weights, grid.weights[some],
                                                       rounds[some], heldout)
    np.testing.assert_allclose(out.heldout_accuracy[some], accuracy, rtol=0, atol=1e-15)
    np.testing.assert_allclose(out.round_predictive[some], round_predictive, rtol=1e-12, atol=0)
    mean = out.heldout_accuracy.mean(axis=0)
    assert mean[0] < 0.5 < 0.75 < mean[-1]  # the paper: about 0.4 before, about 0.8 after


@pytest.mark.parametrize(("n_features", "levels"),
                         [(5, ref.DEFAULT_LEVELS), (6, (2.0, 0.0, -1.0, 0.5))])
def test_grids_larger_than_one_work_block_match_the_reference(
        n_features: int, levels: tuple[float, ...]) -> None:
    grid = HypothesisGrid(n_features, levels)  # 3124 and 4095 rows: split across threads
    rng = np.random.default_rng(5)
    users = grid.weights[rng.integers(len(grid), size=4)]
    rounds = rng.integers(0, 11, size=(4, 3, 3, n_features)) / 10
    heldout = rng.integers(0, 11, size=(10, 3, n_features)) / 10
    out = run_protocol(grid, users, rounds, heldout, n_threads=2)
    accuracy, round_predictive = ref.evaluate_bayesian(grid.weights, users, rounds, heldout)
    np.testing.assert_allclose(out.heldout_accuracy, accuracy, rtol=0, atol=1e-15)
    np.testing.assert_allclose(out.round_predictive, round_predictive, rtol=1e-12, atol=0)


def test_given_choices_equal_to_the_default_change_nothing() -> None:
    grid = HypothesisGrid(3)
    rng = np.random.default_rng(1)
    users = grid.weights[rng.integers(len(grid), size=30)]
    rounds = rng.random((30, 4, 3, 3))
    heldout = rng.random((20, 2, 3))
    default = run_protocol(grid, users, rounds, heldout)
    given_ = run_protocol(grid, users, rounds, heldout, choices=default.choices)
    for name in ("choices", "round_predictive", "round_recommendations",
                 "heldout_recommendations", "heldout_accuracy"):
        assert np.array_equal(getattr(default, name), getattr(given_, name))
    assert default.heldout_predictive is None


@pytest.mark.parametrize("model", [ref.ChoiceModel(), ref.ChoiceModel("softmax", beta=2.0),
                                   ref.ChoiceModel("epsilon", epsilon=0.2)])
def test_results_do_not_depend_on_the_number_of_threads(model: ref.ChoiceModel) -> None:
    grid = HypothesisGrid(3)
    rng = np.random.default_rng(2)
    users = grid.weights[rng.integers(len(grid), size=200)]
    rounds = rng.integers(0, 11, size=(200, 5, 3, 3)) / 10
    heldout = rng.integers(0, 11, size=(30, 3, 3)) / 10
    one = run_protocol(grid, users, rounds, heldout, choice_model=model, n_threads=1,
                       return_heldout_predictive=True)
    three = run_protocol(grid, users, rounds, heldout, choice_model=model, n_threads=3,
                         return_heldout_predictive=True)
    for name in one.__dataclass_fields__:
        assert np.array_equal(getattr(one, name), getattr(three, name))


def test_an_impossible_choice_names_the_first_user_and_round() -> None:
    grid = HypothesisGrid(1, (0.0, 1.0))  # one hypothesis, w = (1,): always prefers larger x
    rounds = np.tile(np.array([[1.0], [0.0]]), (4, 3, 1, 1))  # (4 users, 3 rounds, 2, 1)
    choices = np.zeros((4, 3), dtype=np.int64)
    choices[3, 0] = 1
    choices[2, 1] = 1
    with pytest.raises(ImpossibleObservationError, match=r"choices\[2, 1\]: user 2 .* round 1"):
        run_protocol(grid, np.ones((4, 1)), rounds, choices=choices, n_threads=2)
    noisy = run_protocol(grid, np.ones((4, 1)), rounds, choices=choices,
                         choice_model=ref.ChoiceModel("epsilon", epsilon=0.1))
    assert noisy.round_recommendations.tolist() == [[0, 0, 0]] * 4


def test_users_off_the_grid_are_allowed_until_impossible() -> None:
    grid = HypothesisGrid(2, (0.0, 1.0))  # (0, 1), (1, 0), (1, 1)
    rounds = np.array([[[[1.0, 0.0], [0.0, 1.0]]]])
    out = run_protocol(grid, np.array([[0.3, 0.2]]), rounds)
    assert out.choices.tolist() == [[0]]
    with pytest.raises(ImpossibleObservationError, match=r"choices\[0, 0\]"):
        # every hypothesis prefers (1, 1) to (0, 0); this user does not
        run_protocol(grid, np.array([[-1.0, -2.0]]), np.array([[[[1.0, 1.0], [0.0, 0.0]]]]))


def test_without_heldout_sets_the_heldout_arrays_are_empty() -> None:
    grid = HypothesisGrid(4)
    rng = np.random.default_rng(3)
    out = run_protocol(grid, grid.weights[:5], rng.random((5, 2, 3, 4)),
                       return_heldout_predictive=True)
    assert out.heldout_recommendations.shape == (5, 3, 0)
    assert out.heldout_predictive.shape == (5, 3, 0, 0)
    assert np.isnan(out.heldout_accuracy).all() and out.heldout_accuracy.shape == (5, 3)
    assert out.round_predictive.shape == (5, 2, 3)
    empty = run_protocol(grid, np.zeros((0, 4)), np.zeros((0, 5, 3, 4)))
    assert empty.choices.shape == (0, 5) and empty.heldout_accuracy.shape == (0, 6)
