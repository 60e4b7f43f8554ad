"""Every user at once (llm.together) gives the per-user path's answers; belief mode keeps the
model's own statements in the conversation; given mode puts the Bayesian teacher's exact
statement, from the choices revealed so far only, before every answer."""

from __future__ import annotations

import dataclasses
import json
import time

import numpy as np
import pytest
from bayesflight import Belief, HypothesisGrid, chat
from bayesflight.domains import FLIGHT
from bayesflight.evalset import make_eval_set
from bayesflight.llm import load_model, together
from bayesflight.llm.assistant import LLMAssistant
from bayesflight.llm.evaluation import evaluate_llm
from bayesflight.llm.scoring import PrefixScorer
from bayesflight.llm.together import run_together
from bayesflight.protocol import run_assistant
from bayesflight.statements import buckets, statement
from bayesflight.transcript import Transcript
from tiny_models import make_tiny_model


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory):
    return str(make_tiny_model(tmp_path_factory.mktemp("tiny") / "m"))


@pytest.fixture(scope="module")
def tiny(tiny_path):
    return load_model(tiny_path, device="cpu", dtype="float32")


@pytest.fixture(scope="module")
def evalset():
    return make_eval_set(FLIGHT, n_users=3, n_rounds=2, n_heldout=4, seed=5)


def _together(model, tokenizer, evalset, mode, batch_size=5, **turns):
    assistant = LLMAssistant(model, tokenizer, FLIGHT, mode=mode, max_new_tokens=8,
                             scorer=PrefixScorer(model, batch_size, shared_prefix=False),
                             **turns)
    transcript = Transcript.empty(evalset)
    said = run_together(assistant, evalset, np.arange(evalset.n_users), transcript)
    return transcript, said


@pytest.mark.parametrize(("mode", "turns"), [
    ("score", {}), ("generate", {}), ("belief", {}), ("given", {}),
    ("given", {"scores": True, "evidence": "differences"}), ("given", {"evidence": "worked"})])
def test_all_users_together_answer_as_one_at_a_time(tiny, evalset, mode, turns):
    model, tokenizer = tiny
    one = LLMAssistant(model, tokenizer, FLIGHT, mode=mode, max_new_tokens=8, **turns)
    alone = run_assistant(one, evalset, progress=False)
    together, said = _together(model, tokenizer, evalset, mode, **turns)
    assert together.completed.all()
    np.testing.assert_array_equal(together.heldout_recommendations,
                                  alone.heldout_recommendations)
    np.testing.assert_array_equal(together.round_recommendations, alone.round_recommendations)
    np.testing.assert_allclose(together.heldout_predictive, alone.heldout_predictive, atol=1e-4)
    np.testing.assert_allclose(together.round_predictive, alone.round_predictive, atol=1e-4)
    assert [len(s) for s in said] == [evalset.n_rounds if one.writes else 0] * 3
    assert said[-1] == (one.stated if one.writes else [])  # the last user's, both ways


def test_batch_size_and_order_do_not_change_the_answers(tiny, evalset):
    a, _ = _together(*tiny, evalset, "score", batch_size=1)
    b, _ = _together(*tiny, evalset, "score", batch_size=64)
    np.testing.assert_allclose(a.heldout_predictive, b.heldout_predictive, atol=1e-5)


class _Stating(LLMAssistant):
    """Belief mode with a scripted statement: the round's index in words, per conversation."""

    def _written(self, texts, k):
        return [statement(FLIGHT, np.full(4, min(t.count("Your option"), 2)))
                for t in texts]


class _Scoring(LLMAssistant):
    """Given mode with scripted scores: the number of rounds so far, after the statement."""

    def _written(self, texts, k):
        self.prompts += texts
        return [f"Flight 1 scores {t.count('Your option')} = 0." for t in texts]


def test_given_mode_with_scores_puts_the_models_scores_after_the_exact_statement(tiny,
                                                                                 evalset):
    model, tokenizer = tiny
    assistant = _Scoring(model, tokenizer, FLIGHT, mode="given", scores=True)
    assistant.prompts = []  # every prompt it wrote after
    exact = _reference_statements(evalset)[0]
    assistant.reset()
    for r in range(evalset.n_rounds):
        options = evalset.rounds[0, r]
        probs = assistant.predict(options)
        # the model writes after the exact statement, on the generation prompt
        text = assistant.prompt_texts(options[None], answer_prefix=False)[0]
        assert assistant.prompts[-1] == text + exact[r]
        said = f"{exact[r]} Flight 1 scores {r} = 0."
        direct = assistant._score([text + chat.answer_prefix(FLIGHT, said)], 3)
        np.testing.assert_allclose(probs, direct[0], atol=1e-12)
        assistant.observe(options, int(np.argmax(probs)), int(evalset.choices[0, r]))
        assert assistant.messages[-1]["content"] == chat.answer(FLIGHT, int(np.argmax(probs)),
                                                                said)
    assert assistant.stated == [f"{exact[r]} Flight 1 scores {r} = 0." for r in range(2)]
    with pytest.raises(ValueError, match="scores need a mode with belief statements"):
        LLMAssistant(model, tokenizer, FLIGHT, mode="score", scores=True)


@pytest.mark.parametrize("form", ["differences", "worked"])
def test_given_mode_with_evidence_opens_each_later_turn_with_the_last_choices_evidence(
        tiny, evalset, form):
    from bayesflight.evidence import evidence_texts

    model, tokenizer = tiny
    assistant = LLMAssistant(model, tokenizer, FLIGHT, mode="given", evidence=form)
    exact = _reference_statements(evalset)
    seen = evidence_texts(FLIGHT, evalset.rounds, evalset.choices, form)  # (U, R)
    given = assistant.given_statements(evalset.rounds, evalset.choices)  # (U, R+1)
    for u in range(evalset.n_users):
        assert list(given[u]) == [exact[u][0], *(f"{seen[u, r - 1]} {exact[u][r]}"
                                                for r in range(1, evalset.n_rounds + 1))]
    assistant.reset()
    for r in range(evalset.n_rounds):  # the per-user path says the same in its conversation
        options = evalset.rounds[0, r]
        rec = int(np.argmax(assistant.predict(options)))
        assistant.observe(options, rec, int(evalset.choices[0, r]))
        assert assistant.messages[-1]["content"] == chat.answer(FLIGHT, rec, given[0, r])
    with pytest.raises(ValueError, match="evidence needs a mode with belief statements"):
        LLMAssistant(model, tokenizer, FLIGHT, mode="score", evidence=form)
    with pytest.raises(ValueError, match=r"evidence must be one of \('differences', 'worked'\)"):
        LLMAssistant(model, tokenizer, FLIGHT, mode="given", evidence="sums")


def test_belief_mode_keeps_the_models_own_statements(tiny, evalset):
    model, tokenizer = tiny
    assistant = _Stating(model, tokenizer, FLIGHT, mode="belief")
    rng = np.random.default_rng(0)
    rounds = FLIGHT.sample(rng, (2, 3))
    for r, options in enumerate(rounds):
        probs = assistant.predict(options)
        assistant.observe(options, int(np.argmax(probs)), 0)
        said = statement(FLIGHT, np.full(4, r))
        assert assistant.messages[-1]["content"] == chat.answer(FLIGHT, int(np.argmax(probs)),
                                                                said)
    assert assistant.stated == [statement(FLIGHT, np.full(4, r)) for r in range(2)]
    # the option numbers are scored after the statement and the answer prefix
    text = assistant.prompt_texts(rounds[:1], answer_prefix=False)[0]
    direct = assistant._score([text + chat.answer_prefix(FLIGHT, statement(FLIGHT,
                                                                         np.full(4, 2)))], 3)
    np.testing.assert_allclose(assistant.predict(rounds[0]), direct[0], atol=1e-12)

    scripted = _Stating(model, tokenizer, FLIGHT, mode="belief",
                        scorer=PrefixScorer(model, 8, shared_prefix=False))
    transcript = Transcript.empty(evalset)
    stated = run_together(scripted, evalset, np.arange(evalset.n_users), transcript)
    alone = run_assistant(_Stating(model, tokenizer, FLIGHT, mode="belief"), evalset,
                          progress=False)
    np.testing.assert_array_equal(transcript.round_recommendations, alone.round_recommendations)
    assert stated[0] == [statement(FLIGHT, np.full(4, r)) for r in range(2)]


def test_evaluate_llm_together_resumes_and_saves_statements(tiny_path, evalset, tmp_path):
    one = evaluate_llm(evalset, tmp_path / "a", "m", tiny_path, mode="belief", device="cpu",
                       dtype="float32", users_at_once=1, progress=False, max_new_tokens=4)
    wall = time.perf_counter()
    many = evaluate_llm(evalset, tmp_path / "b", "m", tiny_path, mode="belief", device="cpu",
                        dtype="float32", users_at_once=2, progress=False, max_new_tokens=4)
    wall = time.perf_counter() - wall
    assert many.users_at_once == 2 and one.users_at_once == 1
    # the protocol's own time, within the call's (loading the model excluded)
    assert 0 < many.seconds < wall and many.questions == evalset.n_users * (3 * 4 + 2)
    np.testing.assert_array_equal(one.transcript.heldout_recommendations,
                                  many.transcript.heldout_recommendations)
    assert one.statements == many.statements and len(many.statements) == evalset.n_users
    saved = json.loads((tmp_path / "b" / "m.statements.json").read_text())
    assert {int(u): s for u, s in saved.items()} == many.statements
    again = evaluate_llm(evalset, tmp_path / "b", "m", tiny_path, mode="belief", device="cpu",
                         dtype="float32", users_at_once=2, progress=False, max_new_tokens=4,
                         resume=True)
    np.testing.assert_array_equal(again.transcript.heldout_predictive,
                                  many.transcript.heldout_predictive)
    with pytest.raises(ValueError, match="users_at_once"):
        evaluate_llm(evalset, tmp_path / "c", "m", tiny_path, users_at_once=-1)


def _reference_statements(evalset) -> list[list[str]]:
    """Each user's statement before each round and after the last, from the C++ Belief fed
    only the choices of the rounds before."""
    grid, out = HypothesisGrid(FLIGHT.n_features), []
    for u in range(evalset.n_users):
        belief, said = Belief(grid), []
        for r in range(evalset.n_rounds + 1):
            said.append(statement(FLIGHT, buckets(belief.posterior_mean())))
            if r < evalset.n_rounds:
                belief.update(evalset.rounds[u, r], int(evalset.choices[u, r]))
        out.append(said)
    return out


class _Spy(LLMAssistant):
    """Records the statements given with every call for answers."""

    def answer_prompts(self, texts, k, given=None):
        self.asked = [*getattr(self, "asked", []), given]
        return super().answer_prompts(texts, k, given)


def test_given_mode_states_the_exact_posterior_of_the_choices_revealed_so_far(tiny, evalset):
    model, tokenizer = tiny
    expected = _reference_statements(evalset)
    assert expected[0][0] != expected[0][-1]  # the statements do move on these users
    for u in range(evalset.n_users):
        spy = _Spy(model, tokenizer, FLIGHT, mode="given")  # fresh: no first turn reused
        for r in range(evalset.n_rounds + 1):
            spy.predict(evalset.heldout)
            assert spy.asked[-1] == [expected[u][r]] * evalset.n_heldout
            if r == evalset.n_rounds:
                break
            options = evalset.rounds[u, r]
            probs = spy.predict(options)
            assert spy.asked[-1] == [expected[u][r]]
            # scored after the statement and the answer prefix, as in belief mode
            text = spy.prompt_texts(options[None], answer_prefix=False)[0]
            direct = spy._score([text + chat.answer_prefix(FLIGHT, expected[u][r])], 3)
            np.testing.assert_allclose(probs, direct[0], atol=1e-12)
            rec = int(np.argmax(probs))
            spy.observe(options, rec, int(evalset.choices[u, r]))
            assert spy.messages[-1]["content"] == chat.answer(FLIGHT, rec, expected[u][r])
        assert spy.stated == []  # the model wrote none


def test_given_mode_together_states_the_same_and_never_the_choices_to_come(
        tiny, evalset, monkeypatch):
    model, tokenizer = tiny
    expected = _reference_statements(evalset)
    calls = []
    answer = together._answer_unique

    def recording(assistant, texts, k, given=None):
        calls.append(given)
        return answer(assistant, texts, k, given)

    monkeypatch.setattr(together, "_answer_unique", recording)
    transcript, _ = _together(model, tokenizer, evalset, "given")
    n, rounds = evalset.n_heldout, evalset.n_rounds
    assert len(calls) == 2 * rounds + 1  # held-out questions, then the round's, each round
    for r in range(rounds + 1):
        assert calls[2 * r] == [said[r] for said in expected for _ in range(n)]
        if r < rounds:
            assert calls[2 * r + 1] == [said[r] for said in expected]

    # other choices from round 1 on, and other held-out answers, change nothing before them
    later = evalset.choices.copy()
    later[:, 1:] = (later[:, 1:] + 1) % evalset.n_options
    other = dataclasses.replace(evalset, choices=later,
                                heldout_choices=(evalset.heldout_choices + 1) % 3)
    calls.clear()
    with np.errstate(invalid="ignore"):  # an altered choice may be impossible: no matter
        moved, _ = _together(model, tokenizer, other, "given")
    assert calls[:4] == [[said[r] for said in expected for _ in range(n)] if i % 2 == 0 else
                         [said[r] for said in expected] for i, r in enumerate([0, 0, 1, 1])]
    np.testing.assert_array_equal(moved.heldout_predictive[:, :2],
                                  transcript.heldout_predictive[:, :2])
    np.testing.assert_array_equal(moved.round_predictive, transcript.round_predictive)


def test_given_mode_needs_one_statement_per_prompt(tiny):
    assistant = LLMAssistant(*tiny, FLIGHT, mode="given")
    with pytest.raises(ValueError, match="given must hold one statement per prompt"):
        assistant.answer_prompts(["a", "b"], 3, ["one"])
