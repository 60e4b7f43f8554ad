"""The C++ belief against the NumPy reference: posteriors to 1e-12, recommendations exactly."""

from __future__ import annotations

import numpy as np
import pytest
from bayesflight import Belief, HypothesisGrid, ImpossibleObservationError
from bayesflight import reference as ref
from core_strategies import any_model, grids, option_sets
from hypothesis import assume, given
from hypothesis import strategies as st


def assert_posterior_close(belief: Belief, log_p: np.ndarray) -> None:
    """Posteriors agree to 1e-12 relative (values below 1e-300 are zero for this purpose)."""
    assert np.array_equal(np.isneginf(belief.log_posterior), np.isneginf(log_p))
    np.testing.assert_allclose(belief.posterior, np.exp(log_p), rtol=1e-12, atol=1e-300)


@given(grid=grids(), model=any_model, data=st.data())
def test_updates_predictive_and_recommendations_match_the_reference(
        grid: HypothesisGrid, model: ref.ChoiceModel, data: st.DataObject) -> None:
    belief = Belief(grid, model)
    log_p = ref.uniform_log_prior(len(grid))
    weights = grid.weights
    for _ in range(data.draw(st.integers(1, 4))):
        x = data.draw(option_sets(grid.n_features, n_sets=1))[0]
        np.testing.assert_allclose(belief.predictive(x), ref.predictive(log_p, weights, x, model),
                                   rtol=1e-12, atol=1e-300)
        choice = data.draw(st.integers(0, len(x) - 1))
        try:
            expected = ref.update(log_p, weights, x, choice, model)
        except ImpossibleObservationError:
            before = belief.log_posterior
            with pytest.raises(ImpossibleObservationError):
                belief.update(x, choice)
            assert np.array_equal(belief.log_posterior, before)
            continue
        belief.update(x, choice)
        log_p = expected
        assert_posterior_close(belief, log_p)
    heldout = data.draw(option_sets(grid.n_features))
    np.testing.assert_allclose(belief.predictive(heldout),
                               ref.predictive(log_p, weights, heldout, model),
                               rtol=1e-12, atol=1e-300)
    expected_rec = ref.recommend_from(ref.predictive(log_p, weights, heldout, model))
    assert np.array_equal(belief.recommend(heldout), expected_rec)
    assert belief.recommend(heldout[0]) == expected_rec[0]
    assert belief.entropy() == pytest.approx(ref.entropy(log_p), rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(belief.posterior_mean(), ref.posterior_mean(log_p, weights),
                               rtol=1e-12, atol=1e-12)


@given(grid=grids(), model=any_model, data=st.data())
def test_a_prior_is_normalised_and_updated_like_the_reference(
        grid: HypothesisGrid, model: ref.ChoiceModel, data: st.DataObject) -> None:
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    prior = rng.random(len(grid)) * (rng.random(len(grid)) < 0.7)
    assume(prior.sum() > 0)
    belief = Belief(grid, model, prior=prior * 3.0)
    with np.errstate(divide="ignore"):
        log_p = ref.normalise(np.log(prior))
    assert_posterior_close(belief, log_p)
    x = data.draw(option_sets(grid.n_features, n_sets=1))[0]
    choice = data.draw(st.integers(0, len(x) - 1))
    try:
        log_p = ref.update(log_p, grid.weights, x, choice, model)
    except ImpossibleObservationError:
        with pytest.raises(ImpossibleObservationError):
            belief.update(x, choice)
        return
    belief.update(x, choice)
    assert_posterior_close(belief, log_p)


@given(grid=grids(), model=any_model, data=st.data())
def test_the_posterior_sums_to_one(grid: HypothesisGrid, model: ref.ChoiceModel,
                                   data: st.DataObject) -> None:
    belief = Belief(grid, model)
    user = grid.weights[data.draw(st.integers(0, len(grid) - 1))]
    for x in data.draw(option_sets(grid.n_features)):
        belief.update(x, int(ref.best_option(x @ user)))
        assert belief.posterior.sum() == pytest.approx(1.0, abs=1e-12)


@given(grid=grids(), data=st.data())
def test_a_deterministic_user_never_loses_their_own_hypothesis(
        grid: HypothesisGrid, data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(grid) - 1))
    user = grid.weights[index]
    belief = Belief(grid)
    for x in data.draw(option_sets(grid.n_features)):
        # the user's choice computed by NumPy, in NumPy's own summation order
        belief.update(x, int(ref.best_option(x @ user)))
        assert belief.posterior[index] > 0


def test_rounding_ties_do_not_remove_the_true_hypothesis() -> None:
    # 0.1 + 0.2 != 0.3 in floating point: a sum in another order must still be a tie
    grid = HypothesisGrid(3, (0.0, 1.0))
    user = np.array([1.0, 1.0, 1.0])
    index = int(np.flatnonzero((grid.weights == user).all(axis=1))[0])
    x = np.array([[0.3, 0.0, 0.0], [0.1, 0.2, 0.0], [0.0, 0.1, 0.2]])
    assert len({float(v) for v in x @ user}) > 1  # the sums differ in the last bit
    belief = Belief(grid)
    belief.update(x, 0)
    assert belief.posterior[index] > 0
    assert belief.recommend(x) == 0


@given(grid=grids(), data=st.data())
def test_repeating_deterministic_evidence_changes_nothing(
        grid: HypothesisGrid, data: st.DataObject) -> None:
    user = grid.weights[data.draw(st.integers(0, len(grid) - 1))]
    belief = Belief(grid)
    x = data.draw(option_sets(grid.n_features, n_sets=1))[0]
    choice = int(ref.best_option(x @ user))
    belief.update(x, choice)
    once = belief.posterior
    belief.update(x, choice)
    np.testing.assert_allclose(belief.posterior, once, rtol=1e-12, atol=0)


@given(grid=grids(), model=any_model, data=st.data())
def test_permuting_the_options_permutes_the_predictive(
        grid: HypothesisGrid, model: ref.ChoiceModel, data: st.DataObject) -> None:
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    belief = Belief(grid, model)
    x = rng.random((3, 4, grid.n_features))  # generic values: no hypothesis sees a tie
    belief.update(x[0], belief.recommend(x[0]))  # a choice with positive probability
    perm = rng.permutation(4)
    for options in x[1:]:
        np.testing.assert_allclose(belief.predictive(options[perm]),
                                   belief.predictive(options)[perm], rtol=1e-12, atol=1e-300)


def test_an_impossible_update_raises_and_leaves_the_belief_unchanged() -> None:
    grid = HypothesisGrid(1, (0.0, 1.0))  # one hypothesis: w = (1,)
    belief = Belief(grid)
    x = np.array([[1.0], [0.0]])
    with pytest.raises(ImpossibleObservationError, match="no hypothesis"):
        belief.update(x, 1)
    assert np.array_equal(belief.posterior, [1.0])
    belief.update(x, 0)
    assert belief.predictive(x).tolist() == [1.0, 0.0]


def test_noisy_models_survive_what_deterministic_cannot() -> None:
    grid = HypothesisGrid(1, (0.0, 1.0))
    x = np.array([[1.0], [0.0]])
    for belief in (Belief(grid, "softmax", beta=2.0), Belief(grid, "epsilon", epsilon=0.1)):
        belief.update(x, 1)
        assert belief.posterior.tolist() == [1.0]


def test_copy_is_independent() -> None:
    belief = Belief(HypothesisGrid(2))
    twin = belief.copy()
    belief.update(np.array([[1.0, 0.0], [0.0, 1.0]]), 0)
    assert twin.entropy() == pytest.approx(np.log(24))
    assert belief.entropy() < twin.entropy()
    assert twin.choice_model == belief.choice_model and twin.grid is belief.grid


def test_the_default_grid_is_the_papers() -> None:
    grid = HypothesisGrid()
    assert len(grid) == 624 and grid.n_features == 4
    assert grid.levels == (-1.0, -0.5, 0.0, 0.5, 1.0)
    assert grid.weights[0].tolist() == [-1, -1, -1, -1]
    assert grid.weights[1].tolist() == [-1, -1, -1, -0.5]
    assert not grid.weights.flags.writeable
    assert len(HypothesisGrid(8)) == 390_624


@given(grid=grids())
def test_grids_match_the_reference(grid: HypothesisGrid) -> None:
    assert np.array_equal(grid.weights, ref.hypothesis_grid(grid.n_features, grid.levels))


def test_a_grid_without_zero_excludes_nothing() -> None:
    assert len(HypothesisGrid(3, (1.0, 2.0, 3.0))) == 27
    assert HypothesisGrid(2, (2.0, 0.0, 1.0)).weights[:3].tolist() == [[2, 2], [2, 0], [2, 1]]
