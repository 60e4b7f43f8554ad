"""Simulated users: deterministic choice (ties to the lowest index), softmax and epsilon noise."""

from __future__ import annotations

import numpy as np
import pytest
from bayesflight.reference import ChoiceModel
from bayesflight.users import choose


def test_deterministic_user_takes_the_best_option_and_the_first_of_ties() -> None:
    w = np.array([[1.0, -1.0], [0.5, 0.5]])
    options = np.array([[[0.2, 0.1], [0.9, 0.0], [0.5, 0.5]],
                        [[0.1, 0.2], [0.2, 0.1], [0.0, 0.3]]])
    # user 0: utilities 0.1, 0.9, 0; user 1: 0.15, 0.15, 0.15 (a three-way tie)
    assert choose(w, options).tolist() == [1, 0]


def test_near_ties_from_rounding_are_ties() -> None:
    # 0.1 + 0.2 != 0.3 in floating point; the user must still see a tie
    w = np.array([[1.0, 1.0]])
    options = np.array([[[0.0, 0.3], [0.1, 0.2]]])
    assert choose(w, options).tolist() == [0]
    assert choose(w, options[:, ::-1]).tolist() == [0]


@pytest.mark.parametrize("model", [ChoiceModel("softmax", beta=3.0),
                                   ChoiceModel("epsilon", epsilon=0.3)])
def test_noisy_users_choose_with_their_model_probabilities(model: ChoiceModel) -> None:
    n = 20000
    w = np.tile([[1.0, 0.0]], (n, 1))
    options = np.tile([[[0.0, 0.0], [0.5, 0.0], [1.0, 0.0]]], (n, 1, 1))
    picks = choose(w, options, model, np.random.default_rng(7))
    freq = np.bincount(picks, minlength=3) / n
    if model.kind == "softmax":
        expected = np.exp(3.0 * np.array([0.0, 0.5, 1.0]))
        expected /= expected.sum()
    else:
        expected = np.array([0.1, 0.1, 0.8])
    assert np.allclose(freq, expected, atol=0.015)


def test_noisy_users_need_a_generator_and_repeat_with_the_same_seed() -> None:
    w = np.array([[1.0, 0.5]] * 50)
    options = np.random.default_rng(0).random((50, 5, 3, 2))
    model = ChoiceModel("softmax", beta=2.0)
    with pytest.raises(ValueError, match="rng"):
        choose(w, options, model)
    a = choose(w, options, model, np.random.default_rng(3))
    b = choose(w, options, model, np.random.default_rng(3))
    assert a.shape == (50, 5) and np.array_equal(a, b)


@pytest.mark.parametrize("text,expected", [
    ("deterministic", ChoiceModel()),
    ("softmax:2.5", ChoiceModel("softmax", beta=2.5)),
    ("epsilon:0.1", ChoiceModel("epsilon", epsilon=0.1)),
])
def test_choice_model_parse(text: str, expected: ChoiceModel) -> None:
    assert ChoiceModel.parse(text) == expected


@pytest.mark.parametrize("text", ["", "softmax", "softmax:0", "softmax:-1", "softmax:inf",
                                  "epsilon:1", "epsilon:0", "epsilon:x", "deterministic:1",
                                  "greedy"])
def test_choice_model_parse_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="choice model"):
        ChoiceModel.parse(text)


def test_choose_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="user_weights"):
        choose(np.ones((2, 4)), np.ones((3, 5, 3, 4)))
    with pytest.raises(ValueError, match="user_weights"):
        choose(np.ones((2, 4)), np.ones((2, 5, 3, 3)))
