"""LLMAssistant on tiny random models: the paper's prompts, cached batched scoring that agrees
with plain forwards, generate-and-parse, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from bayesflight import chat
from bayesflight.domains import FLIGHT, HOTEL
from bayesflight.llm import load_model
from bayesflight.llm.assistant import LLMAssistant, option_tokens
from bayesflight.llm.scoring import common_prefix_length
from tiny_models import make_tiny_model


@pytest.fixture(scope="module", params=[True, False], ids=["split-digits", "merged-digits"])
def tiny(request, tmp_path_factory):
    """(model, tokenizer): digits as their own tokens, or a space merged into the digit."""
    path = make_tiny_model(tmp_path_factory.mktemp("tiny") / "m", split_digits=request.param)
    return load_model(str(path))


@pytest.fixture(scope="module")
def split_tiny(tmp_path_factory):
    """(model, tokenizer) whose digits are always their own tokens, like SmolLM2's."""
    return load_model(str(make_tiny_model(tmp_path_factory.mktemp("split") / "m")))


@pytest.fixture(scope="module")
def sets():
    rng = np.random.default_rng(3)
    return FLIGHT.sample(rng, (9, 3)), FLIGHT.sample(rng, (3, 3))  # held-out (N,K,F), rounds


def _play(assistant, rounds, heldout):
    """Held-out predictions before and after each round: (R+1, N, K)."""
    out = [assistant.predict(heldout)]
    for r, options in enumerate(rounds):
        rec = int(np.argmax(assistant.predict(options)))
        assistant.observe(options, rec, (rec + r) % 3)
        out.append(assistant.predict(heldout))
    return np.stack(out)


def test_predict_shapes_and_probabilities(tiny, sets):
    heldout, rounds = sets
    assistant = LLMAssistant(*tiny)
    many, one = assistant.predict(heldout), assistant.predict(rounds[0])
    assert many.shape == (9, 3) and one.shape == (3,)
    np.testing.assert_allclose(many.sum(-1), 1.0, atol=1e-12)
    assert np.all(many >= 0)
    assert many.std(axis=0).max() > 0.01  # the random model does tell sets apart


def test_cached_batched_scores_agree_with_a_fresh_forward_per_prompt(tiny, sets):
    heldout, rounds = sets
    cached = _play(LLMAssistant(*tiny, batch_size=4), rounds, heldout)
    fresh = _play(LLMAssistant(*tiny, use_cache=False), rounds, heldout)
    np.testing.assert_allclose(cached, fresh, atol=1e-5)


def test_scores_match_the_model_read_by_hand(tiny, sets):
    """Independent of the scorer: the whole prompt through the model, logits of '1'..'3'."""
    model, tokenizer = tiny
    heldout, rounds = sets
    assistant = LLMAssistant(model, tokenizer)
    assistant.observe(rounds[0], 2, 0)
    got = assistant.predict(heldout[:3])
    for options, probs in zip(heldout[:3], got, strict=True):
        messages = chat.conversation(FLIGHT, rounds[:1], np.array([2]), np.array([0]), options)
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        text += "The best option is Flight "
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        digits = [tokenizer(text + str(k), add_special_tokens=False)["input_ids"][-1]
                  for k in (1, 2, 3)]
        if ids[-1] not in digits and len(ids) == len(
                tokenizer(text + "1", add_special_tokens=False)["input_ids"]):
            ids = ids[:-1]  # the trailing space is merged into the digit token
        with torch.inference_mode():
            logits = model(torch.tensor([ids])).logits[0, -1, digits].double()
        np.testing.assert_allclose(probs, torch.softmax(logits, 0).numpy(), atol=1e-5)


def test_batch_size_does_not_change_scores(tiny, sets):
    heldout, rounds = sets
    one = _play(LLMAssistant(*tiny, batch_size=1), rounds[:1], heldout)
    many = _play(LLMAssistant(*tiny, batch_size=9), rounds[:1], heldout)
    np.testing.assert_allclose(one, many, atol=1e-5)


def test_reset_starts_a_new_user_and_the_reused_cache_is_correct(tiny, sets):
    heldout, rounds = sets
    assistant = LLMAssistant(*tiny)
    first = _play(assistant, rounds, heldout)
    assistant.reset()
    again = _play(assistant, rounds, heldout)
    np.testing.assert_allclose(first, again, atol=1e-5)
    assistant.reset()
    other = _play(assistant, rounds[::-1], heldout)
    fresh = _play(LLMAssistant(*tiny), rounds[::-1], heldout)
    np.testing.assert_allclose(other, fresh, atol=1e-5)


def test_prompts_are_the_papers_chat_and_heldout_questions_stay_out(tiny, sets):
    model, tokenizer = tiny
    heldout, rounds = sets
    assistant = LLMAssistant(model, tokenizer)
    assistant.observe(rounds[0], 1, 2)
    assistant.predict(heldout)
    assert assistant.messages == chat.conversation(FLIGHT, rounds[:1], np.array([1]),
                                                   np.array([2]))
    text = assistant.prompt_texts(heldout[:1])[0]
    assert text.endswith("<|im_start|>assistant\nThe best option is Flight ")
    assert chat.user_turn(FLIGHT, heldout[0], (1, 2)) in text
    assert chat.instruction(FLIGHT) in text


def test_hotel_prompts(tiny):
    assistant = LLMAssistant(*tiny, domain=HOTEL)
    options = HOTEL.sample(np.random.default_rng(0), (2, 3))
    assert assistant.prompt_texts(options)[0].endswith("The best option is Hotel ")
    assert assistant.predict(options).shape == (2, 3)


def test_option_token_alignment(tiny, sets):
    """Split digits score after the trailing space; merged ones replace it."""
    model, tokenizer = tiny
    text = LLMAssistant(model, tokenizer).prompt_texts(sets[0][:1])[0]
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    drop, candidates = option_tokens(tokenizer, text, ids, 3)
    split = tokenizer.convert_ids_to_tokens(candidates) == ["1", "2", "3"]
    assert (drop, split) in ((0, True), (1, False))
    assert tokenizer.convert_ids_to_tokens(candidates)[0] in ("1", "Ġ1")


def test_option_numbers_must_be_single_tokens(split_tiny):
    options = FLIGHT.sample(np.random.default_rng(0), (10,))  # K = 10: "10" is two tokens
    with pytest.raises(ValueError, match="one token"):
        LLMAssistant(*split_tiny).predict(options)


def test_generate_mode_cached_equals_uncached_and_counts_failures(tiny, sets):
    heldout, _ = sets
    cached = LLMAssistant(*tiny, mode="generate", max_new_tokens=6)
    fresh = LLMAssistant(*tiny, mode="generate", max_new_tokens=6, use_cache=False)
    answers = cached.scorer.greedy(cached._encode(cached.prompt_texts(heldout, False)), 6,
                                   cached.stop_ids)
    again = fresh.scorer.greedy(fresh._encode(fresh.prompt_texts(heldout, False)), 6,
                                fresh.stop_ids)
    assert answers == again
    probs = cached.predict(heldout)
    parsed = [chat.parse_answer(cached.tokenizer.decode(a, skip_special_tokens=True), 3)
              for a in answers]
    assert cached.n_generated == 9
    assert cached.n_parse_failures == sum(p is None for p in parsed)
    for p, row in zip(parsed, probs, strict=True):
        np.testing.assert_allclose(row, np.full(3, 1 / 3) if p is None else np.eye(3)[p])


def test_generate_mode_parses_an_answer(tiny, sets, monkeypatch):
    model, tokenizer = tiny
    assistant = LLMAssistant(model, tokenizer, mode="generate")
    replies = ["The best option is Flight 2.", "I cannot tell."]
    monkeypatch.setattr(assistant.scorer, "greedy", lambda prompts, n, stop, settled=None: [
        tokenizer(r, add_special_tokens=False)["input_ids"] for r in replies])
    probs = assistant.predict(sets[0][:2])
    np.testing.assert_allclose(probs, [[0, 1, 0], [1 / 3, 1 / 3, 1 / 3]])
    assert assistant.parse_failure_rate == 0.5


def test_first_turn_answers_are_reused_for_later_users(tiny, sets, monkeypatch):
    heldout, rounds = sets
    assistant = LLMAssistant(*tiny)
    first = assistant.predict(heldout[:4])
    assistant.observe(rounds[0], 0, 1)
    assistant.reset()
    monkeypatch.setattr(assistant.scorer, "next_logits", lambda *a: pytest.fail("recomputed"))
    np.testing.assert_array_equal(assistant.predict(heldout[[3, 0, 0]]), first[[3, 0, 0]])


def test_reused_generated_answers_still_count(tiny, sets, monkeypatch):
    model, tokenizer = tiny
    assistant = LLMAssistant(model, tokenizer, mode="generate")
    replies = iter(["Flight 3.", "no idea", "Flight 1!"])
    monkeypatch.setattr(assistant.scorer, "greedy", lambda prompts, n, stop, settled=None: [
        tokenizer(next(replies), add_special_tokens=False)["input_ids"] for _ in prompts])
    np.testing.assert_allclose(assistant.predict(sets[0][[0, 1, 1]]),
                               [[0, 0, 1], [1 / 3] * 3, [1 / 3] * 3])
    assistant.reset()
    np.testing.assert_allclose(assistant.predict(sets[0][[1, 2]]), [[1 / 3] * 3, [1, 0, 0]])
    assert (assistant.n_generated, assistant.n_parse_failures) == (5, 3)


@pytest.mark.parametrize(("text", "settled"), [
    ("The best option is Flight 2.", True),
    ("Flight 1:\ndeparture", True),
    ("The best option is Flight 2", False),  # could still become Flight 23
    ("The best option is Flight 7.", False),  # names no option of 3
    ("I think", False),
])
def test_an_answer_is_settled_once_its_option_cannot_change(tiny, text, settled):
    assistant = LLMAssistant(*tiny, mode="generate")
    tokens = assistant.tokenizer(text, add_special_tokens=False)["input_ids"]
    assert assistant._settled(tokens, 3) is settled


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"mode": "guess"}, "mode must be"),
    ({"batch_size": 0}, "batch_size must be"),
])
def test_bad_arguments(tiny, kwargs, match):
    with pytest.raises(ValueError, match=match):
        LLMAssistant(*tiny, **kwargs)


def test_bad_options_shape(tiny):
    with pytest.raises(ValueError, match="options must be"):
        LLMAssistant(*tiny).predict(np.zeros((3, 5)))


def test_tokenizer_without_chat_template(tiny):
    model, tokenizer = tiny
    bare = type(tokenizer).from_pretrained(model.name_or_path)
    bare.chat_template = None
    with pytest.raises(ValueError, match="chat template"):
        LLMAssistant(model, bare)


@pytest.mark.parametrize(("seqs", "n"), [
    ([[1, 2, 3], [1, 2, 4], [1, 2]], 2),
    ([[1, 2, 3]], 3),
    ([[5], [6]], 0),
    ([], 0),
])
def test_common_prefix_length(seqs, n):
    assert common_prefix_length(seqs) == n
