"""Belief statements: each one the exact posterior's, in words that read back to its buckets."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from bayesflight import Belief, HypothesisGrid, chat
from bayesflight.domains import FLIGHT, HOTEL, get_domain
from bayesflight.reference import ChoiceModel, hypothesis_grid
from bayesflight.statements import (
    SLIGHT,
    STRONG,
    buckets,
    parse_statement,
    posterior_means,
    revealed_statements,
    statement,
    statement_agreement,
    statement_weights,
)
from bayesflight.teacher import TeachingConfig, generate
from bayesflight.teacher_jsonl import render
from hypothesis import given, settings
from hypothesis import strategies as st

CHOICE_MODELS = [ChoiceModel(), ChoiceModel("epsilon", epsilon=0.1),
                 ChoiceModel("softmax", beta=3.0)]


@settings(max_examples=25, deadline=None)
@given(domain=st.sampled_from(["flight", "hotel", "flight-2", "flight-3"]),
       model=st.sampled_from(CHOICE_MODELS), seed=st.integers(0, 2**16),
       n_rounds=st.integers(1, 5))
def test_each_statement_is_the_exact_posteriors(domain, model, seed, n_rounds):
    """The generated buckets equal those of the C++ Belief's posterior mean, round by round."""
    config = TeachingConfig("bayesian", get_domain(domain), 6, seed, n_rounds=n_rounds,
                            choice_model=model, statements=True)
    grid = HypothesisGrid(config.domain.n_features)
    for chunk in generate(config):
        for i in range(len(chunk.user_ids)):
            belief = Belief(grid, model.kind, beta=model.beta, epsilon=model.epsilon)
            for r in range(n_rounds):
                np.testing.assert_array_equal(chunk.statements[i, r],
                                              buckets(belief.posterior_mean()))
                belief.update(chunk.rounds[i, r], int(chunk.choices[i, r]))


@pytest.mark.parametrize("model", CHOICE_MODELS)
def test_revealed_statements_are_the_exact_posteriors_before_each_round_and_after_the_last(
        model):
    """The statement at r is the C++ Belief's after rounds 0..r-1, whatever comes later."""
    rng = np.random.default_rng(3)
    rounds = FLIGHT.sample(rng, (3, 4, 3))
    users = hypothesis_grid(4)[rng.integers(0, 624, 3)]
    choices = np.argmax(np.einsum("nrkf,nf->nrk", rounds, users), axis=-1)
    said = revealed_statements(FLIGHT, rounds, choices, model)
    assert said.shape == (3, 5)
    grid = HypothesisGrid(4)
    for i in range(3):
        belief = Belief(grid, model.kind, beta=model.beta, epsilon=model.epsilon)
        for r in range(5):
            assert said[i, r] == statement(FLIGHT, buckets(belief.posterior_mean()))
            if r < 4:
                belief.update(rounds[i, r], int(choices[i, r]))
            # the choices from round r on do not move the statements up to r: without them
            # at all, the statements up to r are the same
            alone = revealed_statements(FLIGHT, rounds[:, :r], choices[:, :r], model)
            assert list(alone[i]) == list(said[i, :r + 1])
    np.testing.assert_array_equal(revealed_statements(FLIGHT, rounds[:, :0], choices[:, :0]),
                                  said[:, :1])


def test_statement_agreement_counts_the_exact_statements_round_by_round():
    """The teacher's own statements agree everywhere; one changed sentence costs its user's
    round only; the most common exact statement's share is that of one fixed sentence."""
    rng = np.random.default_rng(5)
    rounds = FLIGHT.sample(rng, (4, 3, 3))
    users = hypothesis_grid(4)[rng.integers(0, 624, 4)]
    choices = np.argmax(np.einsum("nrkf,nf->nrk", rounds, users), axis=-1)
    exact = revealed_statements(FLIGHT, rounds, choices)[:, :3]
    agree, most_common = statement_agreement(FLIGHT, rounds, choices, exact)
    np.testing.assert_array_equal(agree, [1.0, 1.0, 1.0])
    assert most_common[0] == 1.0  # before any choice every user is told the prior
    fixed = np.array([[exact[0, r]] * 4 for r in range(3)], dtype=object).T
    for r in range(3):
        assert most_common[r] >= statement_agreement(FLIGHT, rounds, choices, fixed)[0][r]
    wrong = exact.copy()
    wrong[2, 1] = statement(FLIGHT, np.array([2, 2, 2, 2]))
    assert exact[2, 1] != wrong[2, 1]
    np.testing.assert_array_equal(statement_agreement(FLIGHT, rounds, choices, wrong)[0],
                                  [1.0, 0.75, 1.0])
    with pytest.raises(ValueError, match=r"stated must have shape \(4, 3\)"):
        statement_agreement(FLIGHT, rounds, choices, exact[:, :2])


def test_posterior_means_before_any_round_are_the_prior_mean_zero():
    rng = np.random.default_rng(0)
    rounds = FLIGHT.sample(rng, (4, 3, 3))
    means = posterior_means(hypothesis_grid(4), rounds, np.zeros((4, 3), dtype=np.int64),
                            ChoiceModel("epsilon", epsilon=0.2))
    np.testing.assert_allclose(means[:, 0], 0.0, atol=1e-12)


def test_buckets_thresholds_and_signs():
    means = np.array([0.0, 0.19, -0.19, SLIGHT, -SLIGHT, 0.59, STRONG, -STRONG, 1.0,
                      SLIGHT - 1e-12])
    np.testing.assert_array_equal(buckets(means), [0, 0, 0, 1, -1, 1, 2, -2, 2, 1])


@pytest.mark.parametrize("domain", [FLIGHT, HOTEL])
def test_every_statement_reads_back_and_holds_no_digit(domain):
    seen = set()
    for levels in itertools.product(range(-2, 3), repeat=domain.n_features):
        text = statement(domain, np.array(levels))
        assert not any(c.isdigit() for c in text)
        np.testing.assert_array_equal(parse_statement(domain, text), levels)
        seen.add(text)
    assert len(seen) == 5 ** domain.n_features
    assert parse_statement(domain, "The best option is Flight 2.") is None
    assert parse_statement(domain, statement(domain, np.zeros(4, int))[:-1]) is None


def test_the_words_and_the_centres():
    text = statement(FLIGHT, np.array([0, -1, -2, 2]))
    assert text == ("So far: departure time: no preference; duration: shorter (slight); "
                    "number of stops: fewer (strong); price: pricier (strong).")
    np.testing.assert_allclose(statement_weights(np.array([-2, -1, 0, 1, 2])),
                               [-0.8, -0.4, 0.0, 0.4, 0.8])


@pytest.mark.parametrize("domain", [FLIGHT, HOTEL])
def test_rendered_lines_are_the_chat_texts_with_statements(domain):
    config = TeachingConfig("bayesian", domain, 5, 3, n_rounds=4, statements=True)
    for chunk in generate(config):
        for i, line in enumerate(render(chunk, config)):
            record = json.loads(line)
            said = [statement(domain, chunk.statements[i, r]) for r in range(4)]
            messages = chat.conversation(domain, chunk.rounds[i], chunk.recommendations[i],
                                         chunk.choices[i], statements=said)
            assert record["messages"] == messages
            assert said[0].count("no preference") == domain.n_features  # nothing seen yet


def test_statements_leave_everything_else_as_it_was():
    plain = TeachingConfig("bayesian", FLIGHT, 20, 7)
    stated = TeachingConfig("bayesian", FLIGHT, 20, 7, statements=True)
    for a, b in zip(generate(plain), generate(stated), strict=True):
        for x, y in zip(render(a, plain), render(b, stated), strict=True):
            rx, ry = json.loads(x), json.loads(y)
            for mx, my in zip(rx.pop("messages"), ry.pop("messages"), strict=True):
                assert my["content"].endswith(mx["content"])
            assert rx == ry


def test_the_oracle_states_no_belief():
    with pytest.raises(ValueError, match="statements .* need the bayesian teacher"):
        TeachingConfig("oracle", FLIGHT, 3, 0, statements=True)


def test_a_choice_no_hypothesis_allows_is_refused_not_stated_as_no_preference():
    from bayesflight.reference import ImpossibleObservationError
    from bayesflight.statements import revealed_statements

    rng = np.random.default_rng(0)
    rounds = FLIGHT.sample(rng, (2, 3, 3))
    users = hypothesis_grid(4)[rng.integers(0, 624, 2)]
    choices = np.argmax(np.einsum("nrkf,nf->nrk", rounds, users), axis=-1)
    rounds[1, 1, 1] = rounds[1, 1, 0]  # two equal options: a tie goes to the first,
    choices[1, 1] = 1  # so a deterministic user never chooses the second
    with pytest.raises(ImpossibleObservationError, match="dialogue 1: the choices before "
                                                         "round 2"):
        revealed_statements(FLIGHT, rounds, choices)
