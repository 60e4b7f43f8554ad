"""Every user at once (llm.together) gives the per-user path's answers; belief mode keeps the
model's own statements in the conversation."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from bayesflight import chat
from bayesflight.domains import FLIGHT
from bayesflight.evalset import make_eval_set
from bayesflight.llm import load_model
from bayesflight.llm.assistant import LLMAssistant
from bayesflight.llm.evaluation import evaluate_llm
from bayesflight.llm.scoring import PrefixScorer
from bayesflight.llm.together import run_together
from bayesflight.protocol import run_assistant
from bayesflight.statements import statement
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


def _together(model, tokenizer, evalset, mode, batch_size=5):
    assistant = LLMAssistant(model, tokenizer, FLIGHT, mode=mode, max_new_tokens=8,
                             scorer=PrefixScorer(model, batch_size, shared_prefix=False))
    transcript = Transcript.empty(evalset)
    said = run_together(assistant, evalset, np.arange(evalset.n_users), transcript)
    return transcript, said


@pytest.mark.parametrize("mode", ["score", "generate", "belief"])
def test_all_users_together_answer_as_one_at_a_time(tiny, evalset, mode):
    model, tokenizer = tiny
    one = LLMAssistant(model, tokenizer, FLIGHT, mode=mode, max_new_tokens=8)
    alone = run_assistant(one, evalset, progress=False)
    together, said = _together(model, tokenizer, evalset, mode)
    assert together.completed.all()
    np.testing.assert_array_equal(together.heldout_recommendations,
                                  alone.heldout_recommendations)
    np.testing.assert_array_equal(together.round_recommendations, alone.round_recommendations)
    np.testing.assert_allclose(together.heldout_predictive, alone.heldout_predictive, atol=1e-4)
    np.testing.assert_allclose(together.round_predictive, alone.round_predictive, atol=1e-4)
    assert [len(s) for s in said] == [evalset.n_rounds if mode == "belief" else 0] * 3


def test_batch_size_and_order_do_not_change_the_answers(tiny, evalset):
    a, _ = _together(*tiny, evalset, "score", batch_size=1)
    b, _ = _together(*tiny, evalset, "score", batch_size=64)
    np.testing.assert_allclose(a.heldout_predictive, b.heldout_predictive, atol=1e-5)


class _Stating(LLMAssistant):
    """Belief mode with a scripted statement: the round's index in words, per conversation."""

    def _statements(self, texts):
        return [statement(FLIGHT, np.full(4, min(t.count("Your option"), 2)))
                for t in texts]


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
