"""Evidence: each teacher turn after the first opens with what the user's last choice reveals,
the chosen option against each one passed over, in the points of the option scores."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from bayesflight import chat
from bayesflight.domains import FLIGHT, HOTEL, get_domain
from bayesflight.evidence import (
    differences,
    evidence_agreement,
    evidence_agreement_by_feature,
    evidence_text,
    evidence_texts,
    feature_clauses,
    split_evidence,
)
from bayesflight.option_scores import points, split_turn
from bayesflight.statements import statement
from bayesflight.teacher import TeachingConfig, generate
from bayesflight.teacher_jsonl import render
from hypothesis import given, settings
from hypothesis import strategies as st

DOMAINS = ["flight", "hotel", "flight-2", "flight-3", "flight-6"]


@settings(max_examples=100, deadline=None)
@given(domain=st.sampled_from(DOMAINS), seed=st.integers(0, 2**32 - 1), k=st.integers(2, 5))
def test_differences_are_the_chosen_options_points_minus_each_other_options(domain, seed, k):
    d = get_domain(domain)
    rng = np.random.default_rng(seed)
    rounds = d.sample(rng, (3, 2, k))  # 3 dialogues, 2 rounds
    choices = rng.integers(0, k, (3, 2))
    got = differences(d, rounds, choices)
    assert got.shape == (3, 2, k - 1, d.n_features) and got.dtype == np.int64
    p = points(d, rounds)
    for (n, r), c in np.ndenumerate(choices):
        expected = [p[n, r, c] - p[n, r, j] for j in range(k) if j != c]
        np.testing.assert_array_equal(got[n, r], expected)


def test_a_choice_written_out():
    """05:12 PM is 7 of 10 points, 08:24 PM 9: Flight 2 is 2 points later, 3 longer."""
    d = get_domain("flight-2")
    options = np.array([[0.7, 0.0], [0.9, 0.3]])
    assert (evidence_texts(d, options, np.int64(1))
            == "Flight 2 over Flight 1: departure time +2, duration +3.")
    assert (evidence_text(d, 0, points(d, options))
            == "Flight 1 over Flight 2: departure time -2, duration -3.")
    same = np.array([[0.7, 0.0], [0.7, 0.3], [0.9, 0.3]])  # equal on a feature: 0, no sign
    assert (evidence_texts(d, same, np.int64(1)) == "Flight 2 over Flight 1: departure time 0, "
            "duration +3. Flight 2 over Flight 3: departure time -2, duration 0.")



def test_a_choice_worked_out():
    """The same choices with each difference after its operands, the chosen option's first."""
    d = get_domain("flight-2")
    options = np.array([[0.7, 0.0], [0.9, 0.3]])
    assert (evidence_texts(d, options, np.int64(1), "worked")
            == "Flight 2 over Flight 1: departure time 9 - 7 = +2, duration 3 - 0 = +3.")
    same = np.array([[0.7, 0.0], [0.7, 0.3], [0.9, 0.3]])
    assert (evidence_texts(d, same, np.int64(1), "worked")
            == "Flight 2 over Flight 1: departure time 7 - 7 = 0, duration 3 - 0 = +3. "
            "Flight 2 over Flight 3: departure time 7 - 9 = -2, duration 3 - 3 = 0.")


@settings(max_examples=100, deadline=None)
@given(domain=st.sampled_from(DOMAINS), seed=st.integers(0, 2**32 - 1), k=st.integers(2, 5))
def test_worked_evidence_says_the_differences_and_the_points_they_come_from(domain, seed, k):
    """Read back, the worked form gives each pair's points and the same differences as the
    plain form: only the operands are added."""
    d = get_domain(domain)
    rng = np.random.default_rng(seed)
    options = d.sample(rng, (k,))
    choice = int(rng.integers(0, k))
    p = points(d, options)
    plain = str(evidence_texts(d, options, np.int64(choice)))
    worked = str(evidence_texts(d, options, np.int64(choice), "worked"))
    terms = [tuple(int(x) for x in t)
             for t in re.findall(r" (\d+) - (\d+) = ([+-]?\d+)[,.]", worked)]
    others = [j for j in range(k) if j != choice]
    assert terms == [(p[choice, f], p[j, f], p[choice, f] - p[j, f])
                     for j in others for f in range(d.n_features)]
    assert re.sub(r" \d+ - \d+ = ", " ", worked) == plain


def test_an_unknown_evidence_form_is_a_clear_error():
    d = get_domain("flight-2")
    with pytest.raises(ValueError, match=r"evidence must be one of \('differences', 'worked'\), "
                       "got 'sums'"):
        evidence_texts(d, np.array([[0.7, 0.0], [0.9, 0.3]]), np.int64(1), "sums")
    with pytest.raises(ValueError, match="evidence must be one of"):
        TeachingConfig("bayesian", FLIGHT, 3, 0, statements=True, evidence="sums")

@pytest.mark.parametrize("form", ["differences", "worked"])
@pytest.mark.parametrize("domain", [FLIGHT, HOTEL, get_domain("flight-2")])
def test_the_evidence_opens_every_turn_after_the_first_and_changes_nothing_else(domain, form):
    plain = TeachingConfig("bayesian", domain, 6, 2, n_rounds=4, statements=True, scores=True)
    shown = TeachingConfig("bayesian", domain, 6, 2, n_rounds=4, statements=True, scores=True,
                           evidence=form)
    for a, b in zip(generate(plain), generate(shown), strict=True):
        for name in ("user_ids", "rounds", "choices", "recommendations", "option_probs",
                     "statements", "scores"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
        seen = evidence_texts(domain, b.rounds, b.choices, form)  # (N, R)
        for i, (line_a, line_b) in enumerate(zip(render(a, plain), render(b, shown),
                                                 strict=True)):
            ra, rb = json.loads(line_a), json.loads(line_b)
            assert {k: v for k, v in ra.items() if k != "messages"} == {
                k: v for k, v in rb.items() if k != "messages"}
            for j, (ma, mb) in enumerate(zip(ra["messages"], rb["messages"], strict=True)):
                r = j // 2
                if j % 2 == 0 or r == 0:
                    assert ma == mb
                else:
                    assert mb["content"] == f"{seen[i, r - 1]} {ma['content']}"


@pytest.mark.parametrize("form", ["differences", "worked"])
@pytest.mark.parametrize("domain", [FLIGHT, get_domain("flight-2")])
def test_the_evidence_is_read_from_the_conversation_alone(domain, form):
    """What a model must do: the options of the last question and the choice the feedback
    names (the recommendation when it was right) give the evidence."""
    config = TeachingConfig("bayesian", domain, 8, 4, n_rounds=5, statements=True,
                            evidence=form)
    for chunk in generate(config):
        for line in render(chunk, config):
            m = json.loads(line)["messages"]
            for j in range(3, len(m), 2):
                options = chat.parse_question(domain, m[j - 3]["content"])
                feedback = m[j - 1]["content"].split("\n\n")[0]
                named = re.findall(r"Flight (\d)|Hotel (\d)", feedback)
                chosen = int("".join(named[-1])) - 1  # the preferred, or the right one
                evidence, rest = split_evidence(m[j]["content"])
                assert evidence == evidence_texts(domain, options, np.int64(chosen), form)
                assert rest.startswith("So far: ")


def test_a_turn_splits_into_its_evidence_statement_and_scores():
    said = statement(FLIGHT, np.array([0, -1, -2, 2]))
    scores = "Flight 1 scores 0 + 1 + 2 + 3 = 6. Flight 2 scores 0 + 0 + 0 + 0 = 0."
    seen = "Flight 2 over Flight 1: departure time +1, duration 0, number of stops 0, price -4."
    turn = f"{seen} {said} {scores}"
    assert split_evidence(turn) == (seen, f"{said} {scores}")
    assert split_turn(turn) == (said, scores)  # the statement after the evidence
    assert split_evidence(f"{said} {scores}") == ("", f"{said} {scores}")
    assert split_evidence("no statement at all") == ("", "no statement at all")


def test_evidence_agreement_counts_the_exact_evidence_of_the_last_choice():
    d = get_domain("flight-2")
    rng = np.random.default_rng(0)
    rounds = d.sample(rng, (2, 3, 2))  # 2 users, 3 rounds, 2 options
    choices = rng.integers(0, 2, (2, 3))
    said = statement(d, np.array([1, 0]))
    seen = evidence_texts(d, rounds, choices)
    right = np.empty((2, 3), dtype=object)
    for u in range(2):
        right[u, 0] = said  # round 0: no choice yet, no evidence
        for r in (1, 2):
            right[u, r] = f"{seen[u, r - 1]} {said}"
    np.testing.assert_allclose(evidence_agreement(d, rounds, choices, right), [1, 1, 1])
    wrong = right.copy()
    wrong[0, 0] = f"{seen[0, 0]} {said}"  # evidence before any choice
    wrong[1, 2] = wrong[1, 2].replace("over", "under", 1)
    np.testing.assert_allclose(evidence_agreement(d, rounds, choices, wrong), [0.5, 1, 0.5])
    with pytest.raises(ValueError, match=r"written must have shape \(2, 3\)"):
        evidence_agreement(d, rounds, choices, right[:, :2])


@settings(max_examples=50, deadline=None)
@given(domain=st.sampled_from(DOMAINS), seed=st.integers(0, 2**32 - 1), k=st.integers(2, 4),
       form=st.sampled_from(["differences", "worked"]))
def test_evidence_by_feature_finds_each_misread_feature(domain, seed, k, form):
    # each turn's evidence is written with the chosen option's points moved on a random set
    # of features: exactly those features' differences are wrong there
    d = get_domain(domain)
    rng = np.random.default_rng(seed)
    n, r = 4, 3
    rounds = d.sample(rng, (n, r, k))
    choices = rng.integers(0, k, (n, r))
    p = points(d, rounds)
    misread = rng.random((n, r, d.n_features)) < 0.3
    misread[:, 0] = False  # round 0 has no evidence to misread
    said = statement(d, np.zeros(d.n_features, dtype=np.int64))
    written = np.empty((n, r), dtype=object)
    for u in range(n):
        written[u, 0] = said
        for t in range(1, r):
            moved = p[u, t - 1].copy()
            moved[choices[u, t - 1]] += np.where(misread[u, t], 1, 0)
            text = evidence_text(d, int(choices[u, t - 1]), moved, form)
            written[u, t] = f"{text} {said}"
    by_feature = evidence_agreement_by_feature(d, rounds, choices, written, form)
    assert by_feature.shape == (d.n_features, r)
    np.testing.assert_allclose(by_feature, (~misread).mean(axis=0).T)
    np.testing.assert_allclose(evidence_agreement(d, rounds, choices, written, form),
                               (~misread.any(axis=2)).mean(axis=0))


def test_feature_clauses_read_each_features_differences_in_order():
    d = get_domain("flight-3")
    text = ("Flight 2 over Flight 1: departure time +4, duration 0, number of stops -5. "
            "Flight 2 over Flight 3: departure time 3 - 5 = -2, duration +1, number of stops 0.")
    assert feature_clauses(d, text) == (("+4", "3 - 5 = -2"), ("0", "+1"), ("-5", "0"))
    assert feature_clauses(d, "") == ((), (), ())
    assert feature_clauses(d, "Flight 2 over Flight 1: duration+4.") == ((), (), ())


def test_evidence_needs_statements():
    with pytest.raises(ValueError, match="evidence needs statements"):
        TeachingConfig("bayesian", FLIGHT, 3, 0, evidence="differences")
    with pytest.raises(ValueError, match="statements .* need the bayesian teacher"):
        TeachingConfig("oracle", FLIGHT, 3, 0, statements=True, evidence="differences")
