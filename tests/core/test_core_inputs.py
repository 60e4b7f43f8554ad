"""Bad input to the core's Python API: a ValueError or TypeError that names the argument."""

from __future__ import annotations

import numpy as np
import pytest
from bayesflight import Belief, ChoiceModel, HypothesisGrid, run_protocol

GRID = HypothesisGrid(2)
X = np.array([[0.1, 0.9], [0.5, 0.5], [1.0, 0.0]])


@pytest.mark.parametrize(("n_features", "levels", "error", "match"), [
    (0, (0.0, 1.0), ValueError, "n_features"),
    (11, (0.0, 1.0), ValueError, "n_features"),
    (2.0, (0.0, 1.0), TypeError, "n_features"),
    ("4", (0.0, 1.0), TypeError, "n_features"),
    (True, (0.0, 1.0), TypeError, "n_features"),
    (2, (), ValueError, "levels"),
    (2, (1.0,), ValueError, "levels"),
    (2, tuple(range(17)), ValueError, "levels"),
    (2, (0.0, 1.0, 0.0), ValueError, "levels must be distinct"),
    (2, (0.0, -0.0), ValueError, "levels must be distinct"),
    (2, (0.0, np.nan), ValueError, "levels"),
    (2, (0.0, np.inf), ValueError, "levels"),
    (2, ("a", "b"), TypeError, "levels"),
    (2, "ab", TypeError, "levels"),
    (2, ((0.0, 1.0), (2.0, 3.0)), ValueError, "levels"),
    (7, tuple(range(16)), ValueError, "levels and n_features"),
])
def test_bad_grids(n_features: object, levels: object, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        HypothesisGrid(n_features, levels)  # type: ignore[arg-type]


def test_integer_levels_are_converted() -> None:
    assert HypothesisGrid(2, [0, 1, 2]).levels == (0.0, 1.0, 2.0)


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"choice_model": "bayes"}, ValueError, "choice_model"),
    ({"choice_model": 3}, TypeError, "choice_model"),
    ({"beta": 1.0}, ValueError, "beta must be None"),
    ({"epsilon": 0.1}, ValueError, "epsilon must be None"),
    ({"choice_model": "softmax"}, ValueError, "beta"),
    ({"choice_model": "softmax", "beta": 0.0}, ValueError, "beta"),
    ({"choice_model": "softmax", "beta": -1.0}, ValueError, "beta"),
    ({"choice_model": "softmax", "beta": np.nan}, ValueError, "beta"),
    ({"choice_model": "softmax", "beta": np.inf}, ValueError, "beta"),
    ({"choice_model": "softmax", "beta": "2"}, TypeError, "beta"),
    ({"choice_model": "softmax", "beta": 1.0, "epsilon": 0.1}, ValueError, "epsilon"),
    ({"choice_model": "epsilon"}, ValueError, "epsilon"),
    ({"choice_model": "epsilon", "epsilon": 0.0}, ValueError, "epsilon"),
    ({"choice_model": "epsilon", "epsilon": 1.0}, ValueError, "epsilon"),
    ({"choice_model": "epsilon", "epsilon": np.nan}, ValueError, "epsilon"),
    ({"choice_model": "epsilon", "epsilon": True}, TypeError, "epsilon"),
    ({"choice_model": ChoiceModel("softmax", beta=1.0), "beta": 1.0}, ValueError, "beta"),
    ({"prior": np.ones(5)}, ValueError, "prior"),
    ({"prior": -np.ones(24)}, ValueError, "prior"),
    ({"prior": np.zeros(24)}, ValueError, "prior"),
    ({"prior": np.full(24, np.nan)}, ValueError, "prior"),
    ({"prior": np.full(24, np.inf)}, ValueError, "prior"),
    ({"prior": ["x"] * 24}, TypeError, "prior"),
])
def test_bad_beliefs(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        Belief(GRID, **kwargs)


@pytest.mark.parametrize(("args", "kwargs", "error", "match"), [
    (("bayes",), {}, ValueError, "choice_model must be one of"),
    (("softmax",), {}, ValueError, "beta must be a finite number > 0"),
    (("softmax",), {"beta": 0}, ValueError, "beta must be a finite number > 0"),
    (("softmax",), {"beta": np.inf}, ValueError, "beta must be a finite number > 0"),
    (("softmax",), {"beta": "2"}, TypeError, "beta must be a real number"),
    (("softmax",), {"beta": True}, TypeError, "beta must be a real number"),
    (("softmax",), {"beta": 1.0, "epsilon": 0.1}, ValueError, "epsilon must be None"),
    (("epsilon",), {}, ValueError, "epsilon must be a number in"),
    (("epsilon",), {"epsilon": 2.0}, ValueError, "epsilon must be a number in"),
    (("epsilon",), {"epsilon": np.nan}, ValueError, "epsilon must be a number in"),
    (("deterministic",), {"beta": 1.0}, ValueError, "beta must be None"),
])
def test_a_choice_model_validates_itself(args: tuple, kwargs: dict, error: type,
                                         match: str) -> None:
    # the one check of choice models: Belief, run_protocol and the CLI's parser all build one
    with pytest.raises(error, match=match) as caught:
        ChoiceModel(*args, **kwargs)
    assert "\n" not in str(caught.value)


def test_a_choice_model_stores_floats() -> None:
    model = ChoiceModel("softmax", beta=np.int64(2))
    assert type(model.beta) is float and model == ChoiceModel("softmax", beta=2.0)
    assert hash(model) == hash(ChoiceModel("softmax", beta=2.0))


def test_the_core_still_refuses_a_bad_model() -> None:
    # the last guard, for a ChoiceModel built around its constructor
    model = object.__new__(ChoiceModel)
    for name, value in (("kind", "softmax"), ("beta", -1.0), ("epsilon", None)):
        object.__setattr__(model, name, value)
    with pytest.raises(ValueError, match="beta must be a finite number > 0"):
        Belief(GRID, model)


def test_a_belief_needs_a_grid() -> None:
    with pytest.raises(TypeError, match="grid"):
        Belief(4)  # type: ignore[arg-type]


def test_a_choice_model_and_integer_parameters_are_accepted() -> None:
    assert Belief(GRID, ChoiceModel("epsilon", epsilon=0.5)).choice_model.epsilon == 0.5
    assert Belief(GRID, "softmax", beta=2).choice_model == ChoiceModel("softmax", beta=2.0)
    assert Belief(GRID, prior=np.arange(1, 25)).posterior[-1] == pytest.approx(24 / 300)


@pytest.mark.parametrize(("options", "error", "match"), [
    (np.zeros((3, 3)), ValueError, "F = 2"),
    (np.zeros(3), ValueError, "shape"),
    (np.zeros((1, 2, 3, 2)), ValueError, "shape"),
    (np.zeros((1, 2)), ValueError, "between 2 and 255"),
    (np.zeros((256, 2)), ValueError, "between 2 and 255"),
    (np.array([["a", "b"], ["c", "d"]]), TypeError, "real numbers"),
    (np.array([[1, None], [0, 1]], dtype=object), TypeError, "real numbers"),
    (np.array([[True, False], [False, True]]), TypeError, "real numbers"),
    ([[0.0, 1.0], [1.0]], ValueError, "rectangular"),
    (np.array([[np.nan, 0.0], [1.0, 0.0]]), ValueError, "finite"),
    (np.array([[np.inf, 0.0], [1.0, 0.0]]), ValueError, "finite"),
    (np.array([[1e200, 0.0], [1.0, 0.0]]), ValueError, "too large"),
])
@pytest.mark.parametrize("method", ["update", "predictive", "recommend"])
def test_bad_options(options: object, error: type, match: str, method: str) -> None:
    belief = Belief(GRID)
    args = (options, 0) if method == "update" else (options,)
    with pytest.raises(error, match=f"options.*{match}|{match}.*options"):
        getattr(belief, method)(*args)


@pytest.mark.parametrize(("choice", "error"), [
    (-1, ValueError), (3, ValueError), (1.0, TypeError), (True, TypeError), ("1", TypeError),
])
def test_bad_choices(choice: object, error: type) -> None:
    belief = Belief(GRID)
    with pytest.raises(error, match="choice"):
        belief.update(X, choice)  # type: ignore[arg-type]
    assert belief.entropy() == pytest.approx(np.log(24))


def test_integer_non_contiguous_and_read_only_options_are_accepted() -> None:
    belief = Belief(GRID)
    expected = belief.predictive(X)
    wide = np.zeros((3, 4))
    wide[:, ::2] = X
    read_only = X.copy()
    read_only.flags.writeable = False
    for options in (wide[:, ::2], np.asfortranarray(X), read_only):
        assert np.array_equal(belief.predictive(options), expected)
    halves = np.array([[0.5, 0.25], [0.0, 1.0]])
    assert np.array_equal(belief.predictive(halves.astype(np.float32)), belief.predictive(halves))
    ints = np.array([[0, 1], [1, 0], [1, 1]])
    assert np.array_equal(belief.predictive(ints), belief.predictive(ints.astype(float)))
    belief.update(np.asfortranarray(ints), np.int64(2))
    assert belief.recommend(ints.tolist()) == 2


USERS = GRID.weights[:3]
ROUNDS = np.tile(X, (3, 2, 1, 1))  # (3 users, 2 rounds, 3 options, 2 features)
HELDOUT = X[None]


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"grid": 2}, TypeError, "grid"),
    ({"user_weights": np.zeros((3, 3))}, ValueError, "user_weights"),
    ({"user_weights": np.zeros(3)}, ValueError, "user_weights"),
    ({"user_weights": np.full((3, 2), np.nan)}, ValueError, "user_weights"),
    ({"user_weights": np.full((3, 2), "w")}, TypeError, "user_weights"),
    ({"user_weights": np.full((3, 2), 1e200)}, ValueError, "user_weights"),
    ({"rounds": ROUNDS[:2]}, ValueError, "rounds"),
    ({"rounds": ROUNDS[..., :1]}, ValueError, "rounds"),
    ({"rounds": ROUNDS[:, :, :1]}, ValueError, "rounds"),
    ({"rounds": ROUNDS[0]}, ValueError, "rounds"),
    ({"rounds": np.where(ROUNDS > 0.5, np.inf, ROUNDS)}, ValueError, "rounds"),
    ({"rounds": ROUNDS.astype(complex)}, TypeError, "rounds"),
    ({"heldout": HELDOUT[..., :1]}, ValueError, "heldout"),
    ({"heldout": HELDOUT[0]}, ValueError, "heldout"),
    ({"heldout": HELDOUT[:, :1]}, ValueError, "heldout"),
    ({"heldout": np.full_like(HELDOUT, np.nan)}, ValueError, "heldout"),
    ({"choices": np.zeros((3, 3), dtype=int)}, ValueError, "choices"),
    ({"choices": np.full((3, 2), 3)}, ValueError, "choices"),
    ({"choices": np.full((3, 2), -1)}, ValueError, "choices"),
    ({"choices": np.zeros((3, 2))}, TypeError, "choices"),
    ({"choices": "0"}, TypeError, "choices"),
    ({"choice_model": "nonsense"}, ValueError, "choice_model"),
    ({"choice_model": "epsilon"}, ValueError, "epsilon"),
    ({"return_heldout_predictive": "yes"}, TypeError, "return_heldout_predictive"),
    ({"n_threads": -1}, ValueError, "n_threads"),
    ({"n_threads": 1.5}, ValueError, "n_threads"),
    ({"n_threads": 10**6}, ValueError, "n_threads"),
])
def test_bad_protocol_arguments(kwargs: dict, error: type, match: str) -> None:
    arguments = {"grid": GRID, "user_weights": USERS, "rounds": ROUNDS, "heldout": HELDOUT}
    with pytest.raises(error, match=match):
        run_protocol(**{**arguments, **kwargs})


def test_protocol_accepts_integers_lists_and_non_contiguous_arrays() -> None:
    expected = run_protocol(GRID, USERS, ROUNDS, HELDOUT)
    wide = np.zeros((*ROUNDS.shape[:3], 4))
    wide[..., ::2] = ROUNDS
    out = run_protocol(GRID, USERS.tolist(), wide[..., ::2], HELDOUT.tolist(),
                       choices=expected.choices.astype(np.int8), choice_model="deterministic")
    assert np.array_equal(out.heldout_accuracy, expected.heldout_accuracy)
    ints = run_protocol(GRID, USERS.astype(int), (ROUNDS > 0.5).astype(np.int32),
                        HELDOUT.astype(int))
    assert ints.round_predictive.dtype == np.float64
