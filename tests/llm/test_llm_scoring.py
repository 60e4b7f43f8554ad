"""PrefixScorer's greedy continuations against transformers' own greedy search.

The KV cache is handed to the model under a keyword that differs between transformers
versions (``bayesflight.llm.compat``); a model that does not know the keyword takes it into
``**kwargs`` and runs without the cache, so every step after the first sees one token only.
Nothing fails then, the continuations are just wrong: these tests compare them, with and
without the kept prefix cache, to ``model.generate(do_sample=False)`` on several prompts.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from bayesflight.domains import FLIGHT
from bayesflight.llm import load_model
from bayesflight.llm.assistant import LLMAssistant
from bayesflight.llm.scoring import PrefixScorer
from tiny_models import make_tiny_model

MAX_NEW = 8


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return load_model(str(make_tiny_model(tmp_path_factory.mktemp("tiny") / "m")), device="cpu")


@pytest.fixture(scope="module")
def sets():
    rng = np.random.default_rng(5)
    return FLIGHT.sample(rng, (5, 3)), FLIGHT.sample(rng, (2, 3))  # held-out (N,K,F), rounds


def transformers_greedy(model, prompt: list[int], max_new_tokens: int,
                        stop_ids: list[int]) -> list[int]:
    """The continuation transformers' own greedy search gives (one prompt, no padding)."""
    ids = torch.tensor([prompt])
    with torch.inference_mode():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False,
                             max_new_tokens=max_new_tokens, eos_token_id=stop_ids,
                             pad_token_id=stop_ids[0])
    return out[0, len(prompt):].tolist()


def questions(assistant: LLMAssistant, heldout: np.ndarray) -> list[list[int]]:
    """Token prompts that share the conversation as a prefix and differ in length after it."""
    return assistant._encode(assistant.prompt_texts(heldout, answer_prefix=False))


@pytest.mark.parametrize("use_cache", [True, False], ids=["prefix-cache", "no-prefix-cache"])
def test_greedy_continuations_are_transformers_greedy(tiny, sets, use_cache):
    model, tokenizer = tiny
    heldout, rounds = sets
    assistant = LLMAssistant(model, tokenizer, mode="generate")
    assistant.observe(rounds[0], 1, 0)
    shared = questions(assistant, heldout)  # one conversation, five questions after it
    assert len({len(p) for p in shared}) > 1  # rows of a batch are padded differently
    alone = [tokenizer("Which flight?", add_special_tokens=False)["input_ids"]]
    stops = assistant.stop_ids
    expected = [transformers_greedy(model, p, MAX_NEW, stops) for p in shared + alone]
    assert all(len(e) > 2 for e in expected)  # steps after the first read the cache
    assert len({tuple(e) for e in expected}) > 1
    scorer = PrefixScorer(model, batch_size=2, use_cache=use_cache)
    assert scorer.greedy(shared, MAX_NEW, stops) == expected[:-1]
    assert scorer.greedy(shared[1:4], MAX_NEW, stops) == expected[1:4]  # the kept cache reused
    assert scorer.greedy(alone, MAX_NEW, stops) == expected[-1:]


def _recording(assistant: LLMAssistant, log: list[tuple[list[int], list[int]]]) -> None:
    """Record every (prompt, continuation) that the assistant's scorer generates."""
    greedy = assistant.scorer.greedy

    def recorded(prompts, max_new_tokens, stop_ids, settled=None):
        answers = greedy(prompts, max_new_tokens, stop_ids, settled)
        log.extend(zip(prompts, answers, strict=True))
        return answers

    assistant.scorer.greedy = recorded


def test_generate_mode_parses_the_same_answers_without_a_cache(tiny, sets):
    model, tokenizer = tiny
    heldout, rounds = sets
    runs = {}
    for use_cache in (True, False):
        assistant = LLMAssistant(model, tokenizer, mode="generate", max_new_tokens=MAX_NEW,
                                 use_cache=use_cache, batch_size=2)
        log: list[tuple[list[int], list[int]]] = []
        _recording(assistant, log)
        probs = [assistant.predict(heldout)]
        for r, options in enumerate(rounds):
            assistant.observe(options, r % 3, (r + 1) % 3)
            probs.append(assistant.predict(heldout))
        runs[use_cache] = np.stack(probs), assistant.n_parse_failures, log
    (cached, cached_failures, cached_log), (fresh, fresh_failures, fresh_log) = (
        runs[True], runs[False])
    np.testing.assert_array_equal(cached, fresh)
    assert cached_failures == fresh_failures
    assert cached_log == fresh_log
    assert len(cached_log) == heldout.shape[0] * (len(rounds) + 1)
    for prompt, answer in cached_log:  # an answer may stop early once its option is settled
        assert answer
        assert transformers_greedy(model, prompt, MAX_NEW, assistant.stop_ids)[
            :len(answer)] == answer
