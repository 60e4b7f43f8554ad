"""Option scores: acting on a belief statement, written out term by term, picks exactly the
option the statement's bucket centres score best, ties included."""

from __future__ import annotations

import json

import numpy as np
import pytest
from bayesflight import chat
from bayesflight.domains import FLIGHT, HOTEL, get_domain
from bayesflight.option_scores import (
    best,
    points,
    scale,
    scores_agreement,
    scores_text,
    split_turn,
    terms,
    tied_best,
)
from bayesflight.reference import ChoiceModel, best_option
from bayesflight.statements import statement, statement_weights
from bayesflight.teacher import TeachingConfig, generate
from bayesflight.teacher_jsonl import render
from hypothesis import given, settings
from hypothesis import strategies as st

DOMAINS = ["flight", "hotel", "flight-2", "flight-3", "flight-6", "flight-8"]


@settings(max_examples=200, deadline=None)
@given(domain=st.sampled_from(DOMAINS), seed=st.integers(0, 2**32 - 1),
       k=st.integers(2, 5), ties=st.booleans())
def test_the_best_total_is_the_option_the_statement_scores_best(domain, seed, k, ties):
    """best(totals) == best_option(options @ statement_weights), ties to the lowest number;
    with ``ties`` the options repeat levels, so that totals tie often."""
    d = get_domain(domain)
    rng = np.random.default_rng(seed)
    options = d.sample(rng, (k,))
    if ties:  # features on which all options agree, and options equal to the first
        same = rng.random(d.n_features) < 0.5
        options[:, same] = options[0, same]
        options[1:] = np.where(rng.random((k - 1, 1)) < 0.3, options[0], options[1:])
    levels = rng.integers(-2, 3, d.n_features)
    totals = terms(d, levels, options).sum(axis=-1)
    assert best(totals) == best_option(options @ statement_weights(levels))
    # the totals are the statement's scores, stretched and shifted alike for every option
    stretched = totals - scale(d) / 0.4 * (options @ statement_weights(levels))
    np.testing.assert_allclose(stretched, stretched[0], atol=1e-9)


def test_points_are_whole_numbers_of_one_scale_per_domain():
    assert scale(FLIGHT) == 10 and scale(HOTEL) == 20 and scale(get_domain("flight-8")) == 60
    highest = np.ones((1, FLIGHT.n_features))
    np.testing.assert_array_equal(points(FLIGHT, highest), [[10, 10, 10, 10]])
    np.testing.assert_array_equal(points(FLIGHT, np.array([[0.0, 0.3, 0.5, 1.0]])),
                                  [[0, 3, 5, 10]])  # stops: 3 levels, 1 stop is 5 of 10


def test_a_turn_written_out():
    """The module docstring's example: 05:12 PM is level 7 of 10, later (strong) doubles it."""
    d = get_domain("flight-2")
    options = np.array([[0.7, 0.0], [0.9, 0.3]])
    levels = np.array([2, 0])  # departure time: later (strong); duration: no preference
    row = terms(d, levels, options)
    np.testing.assert_array_equal(row, [[14, 0], [18, 0]])
    assert scores_text(d, row) == "Flight 1 scores 14 + 0 = 14. Flight 2 scores 18 + 0 = 18."
    # a lower preference counts the points down from the top: shorter (slight) on 0.3 is 7
    np.testing.assert_array_equal(terms(d, np.array([0, -1]), options), [[0, 10], [0, 7]])


def test_ties_go_to_the_lowest_number_and_share_the_probability():
    totals = np.array([[3, 5, 5], [0, 0, 0]])
    np.testing.assert_array_equal(best(totals), [1, 0])
    np.testing.assert_allclose(tied_best(totals), [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]])


def test_a_turn_splits_into_its_statement_and_its_scores():
    said = statement(FLIGHT, np.array([0, -1, -2, 2]))
    scores = "Flight 1 scores 0 + 1 + 2 + 3 = 6. Flight 2 scores 0 + 0 + 0 + 0 = 0."
    assert split_turn(f"{said} {scores}") == (said, scores)
    assert split_turn(said) == (said, "")
    assert split_turn("no full stop") == ("no full stop", "")


def test_scores_agreement_counts_exact_scores_of_the_models_own_statement():
    d = get_domain("flight-2")
    rounds = d.sample(np.random.default_rng(0), (2, 3, 2))  # 2 users, 3 rounds, 2 options
    levels = np.array([[2, 0], [-1, 1]])
    right = np.empty((2, 3), dtype=object)
    for u in range(2):
        for r in range(3):
            right[u, r] = (f"{statement(d, levels[u])} "
                           f"{scores_text(d, terms(d, levels[u], rounds[u, r]))}")
    np.testing.assert_allclose(scores_agreement(d, rounds, right), [1, 1, 1])
    wrong = right.copy()
    wrong[0, 1] = wrong[0, 1].replace("= ", "= 1", 1)  # one total off
    wrong[1, 2] = "So far: nothing. " + split_turn(wrong[1, 2])[1]  # no statement
    np.testing.assert_allclose(scores_agreement(d, rounds, wrong), [1, 0.5, 0.5])
    with pytest.raises(ValueError, match=r"written must have shape \(2, 3\)"):
        scores_agreement(d, rounds, right[:, :2])


@pytest.mark.parametrize("domain", [FLIGHT, HOTEL])
def test_the_scoring_teacher_answers_its_best_total_in_the_chat_texts(domain):
    config = TeachingConfig("bayesian", domain, 6, 2, n_rounds=4, statements=True, scores=True)
    for chunk in generate(config):
        totals = chunk.scores.sum(axis=-1)  # (N, R, K)
        np.testing.assert_array_equal(chunk.recommendations, best(totals))
        np.testing.assert_allclose(chunk.option_probs, tied_best(totals))
        for i, line in enumerate(render(chunk, config)):
            said = [f"{statement(domain, chunk.statements[i, r])} "
                    f"{scores_text(domain, chunk.scores[i, r])}" for r in range(4)]
            messages = chat.conversation(domain, chunk.rounds[i], chunk.recommendations[i],
                                         chunk.choices[i], statements=said)
            record = json.loads(line)
            assert record["messages"] == messages
            assert record["option_probs"] == chunk.option_probs[i].tolist()
            for r in range(4):  # each turn's scores are those of its own statement
                np.testing.assert_array_equal(
                    chunk.scores[i, r], terms(domain, chunk.statements[i, r], chunk.rounds[i, r]))


def test_scores_leave_the_users_and_their_choices_as_they_were():
    stated = TeachingConfig("bayesian", FLIGHT, 20, 7, statements=True)
    scored = TeachingConfig("bayesian", FLIGHT, 20, 7, statements=True, scores=True)
    for a, b in zip(generate(stated), generate(scored), strict=True):
        for name in ("user_ids", "rounds", "choices", "statements"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_scores_need_statements_and_the_bayesian_teacher():
    with pytest.raises(ValueError, match="scores need statements"):
        TeachingConfig("bayesian", FLIGHT, 3, 0, scores=True)
    with pytest.raises(ValueError, match="scores need the bayesian teacher"):
        TeachingConfig("oracle", FLIGHT, 3, 0, statements=True, scores=True)


@pytest.mark.parametrize("domain", [FLIGHT, get_domain("flight-2")])
def test_the_statement_assistant_is_the_scoring_teacher(domain):
    """Through each taught dialogue's rounds and choices, the statement assistant gives the
    teacher's option_probs and recommendations, round by round."""
    from bayesflight.assistants import make_assistant

    config = TeachingConfig("bayesian", domain, 12, 4, statements=True, scores=True,
                            choice_model=ChoiceModel("epsilon", epsilon=0.1))
    assistant = make_assistant("statement", domain, choice_model=config.choice_model)
    for chunk in generate(config):
        for i in range(len(chunk.user_ids)):
            assistant.reset()
            for r in range(config.n_rounds):
                np.testing.assert_array_equal(assistant.levels, chunk.statements[i, r])
                probs = assistant.predict(chunk.rounds[i, r])
                np.testing.assert_allclose(probs, chunk.option_probs[i, r])
                assert assistant.recommend(chunk.rounds[i, r]) == chunk.recommendations[i, r]
                assistant.observe(chunk.rounds[i, r], int(chunk.recommendations[i, r]),
                                  int(chunk.choices[i, r]))
        many = assistant.predict(chunk.rounds[0])  # (N, K, F) at once: each set alone
        np.testing.assert_allclose(many, [assistant.predict(x) for x in chunk.rounds[0]])
