"""``bayesflight init-model``: a random llama whose tokenizer has one token per feature value,
that train, evaluate and the trainer's checks take like any model directory."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from bayesflight import chat
from bayesflight.cli import main
from bayesflight.domains import DOMAIN_NAMES, get_domain
from bayesflight.llm import load_model
from bayesflight.llm.scratch import (
    ScratchConfig,
    corpus,
    init_model,
    value_ranks,
    value_tokenizer,
)
from bayesflight.results import load_results
from bayesflight.statements import statement
from bayesflight.train.data import tokenize_dialogues

SMALL = ScratchConfig(hidden_size=32, layers=2, heads=2, corpus_dialogues=20)


@pytest.fixture(scope="module")
def tokenizer():
    return value_tokenizer(SMALL)


def _ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def test_every_feature_value_of_every_domain_is_one_token(tokenizer):
    for name in DOMAIN_NAMES:
        domain = get_domain(name)
        for feature in domain.features:
            for value in feature.values:
                text = f"{feature.label}: {value},"
                tokens = tokenizer.convert_ids_to_tokens(_ids(tokenizer, text))
                assert tokenizer.convert_tokens_to_string([tokens[-2]]) == value, (name, text)


def test_option_numbers_are_single_digit_tokens_that_the_trainer_accepts(tokenizer):
    rng = np.random.default_rng(3)
    domain = get_domain("flight")
    records = [{"messages": chat.conversation(domain, domain.sample(rng, (5, 3)),
                                              rng.integers(0, 3, 5), rng.integers(0, 3, 5)),
                "option_probs": [[1 / 3] * 3] * 5} for _ in range(3)]
    data = tokenize_dialogues(records, tokenizer, 4096, need_answers=True)
    assert [tokenizer.decode([i]) for i in data.option_ids] == ["1", "2", "3"]
    for digit in "123456789":
        tokens = tokenizer.convert_ids_to_tokens(_ids(tokenizer, f"Flight {digit}."))
        assert tokens[-2:] == [digit, "."]


def test_every_dialogue_round_trips_and_is_shorter_than_in_bytes(tokenizer):
    domains = tuple(get_domain(name) for name in DOMAIN_NAMES)
    for messages in corpus(domains, 3, seed=11):  # not the corpus the BPE saw (seed 0)
        text = tokenizer.apply_chat_template(messages, tokenize=False)
        ids = _ids(tokenizer, text)
        assert tokenizer.decode(ids) == text
        assert len(ids) < len(text.encode()) / 3
    said = statement(get_domain("hotel"), np.array([2, -1, 0, -2]))
    assert tokenizer.decode(_ids(tokenizer, said)) == said


def test_each_generation_prompt_tokenises_as_a_prefix_of_the_whole_dialogue(tokenizer):
    """Whatever the model is taught on, whole dialogues, is what it meets at evaluation: the
    prompt up to ``<|im_start|>assistant\\n`` in the same tokens, and the trainer's marked
    chat template labels exactly bayesflight's tokens (no token spans the turn's header)."""
    from bayesflight.train.template import check_training_template, training_template

    domains = (get_domain("flight-2"), get_domain("hotel"))
    dialogues = corpus(domains, 2, seed=5)
    for messages in dialogues:
        whole = _ids(tokenizer, tokenizer.apply_chat_template(messages, tokenize=False))
        for k, message in enumerate(messages):
            if message["role"] == "assistant":
                prompt = tokenizer.apply_chat_template(messages[:k], tokenize=False,
                                                       add_generation_prompt=True)
                ids = _ids(tokenizer, prompt)
                assert whole[:len(ids)] == ids, prompt[-80:]
    # The trainer's data ends at the last assistant turn; the corpus adds a final question.
    records = [{"messages": m[:max(k for k, x in enumerate(m) if x["role"] == "assistant") + 1]}
               for m in dialogues]
    assert check_training_template(
        tokenizer, training_template(tokenizer.chat_template), records) is None


def test_the_same_config_gives_the_same_tokenizer_and_weights(tmp_path):
    assert value_tokenizer(SMALL).get_vocab() == value_tokenizer(SMALL).get_vocab()
    init_model(tmp_path / "a", SMALL)
    init_model(tmp_path / "b", SMALL)
    a, _ = load_model(str(tmp_path / "a"))
    b, _ = load_model(str(tmp_path / "b"))
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(x, y), name
    assert (tmp_path / "a" / "tokenizer.json").read_bytes() == \
        (tmp_path / "b" / "tokenizer.json").read_bytes()
    saved = json.loads((tmp_path / "a" / "scratch_config.json").read_text())
    assert saved["hidden_size"] == 32 and saved["parameters"] == sum(
        p.numel() for p in a.parameters())


def test_ordered_values_start_each_value_at_its_rank_along_its_features_direction(tmp_path):
    init_model(tmp_path / "plain", SMALL)
    init_model(tmp_path / "ordered", replace(SMALL, ordered_values=True))
    plain, tokenizer = load_model(str(tmp_path / "plain"))
    ordered, _ = load_model(str(tmp_path / "ordered"))
    moved = (ordered.get_input_embeddings().weight - plain.get_input_embeddings().weight).detach()
    length = plain.get_input_embeddings().weight.detach().norm(dim=1).mean().item()
    flight = get_domain("flight")
    axes = {}
    for feature in flight.features:
        if feature.label == "number of stops":  # bare digits, which also number the options
            assert all(not moved[_ids(tokenizer, v)[0]].any() for v in feature.values)
            continue
        rows = torch.stack([moved[_ids(tokenizer, v)[0]] for v in feature.values])
        axis = rows[-1] / length  # the highest level moves by +1 length along the axis
        assert axis.norm() == pytest.approx(1.0, abs=1e-4)
        ranks = torch.linspace(-1, 1, feature.n_levels)
        torch.testing.assert_close(rows, length * ranks[:, None] * axis, atol=1e-5, rtol=0)
        axes[feature.label] = axis
    gram = torch.stack(list(axes.values())) @ torch.stack(list(axes.values())).T
    torch.testing.assert_close(gram, torch.eye(len(axes)), atol=1e-4, rtol=0)
    # Hotels' prices are flights' (one token, one axis); nothing but value rows moved.
    hotel_price = next(f for f in get_domain("hotel").features if f.label == "price")
    assert hotel_price.values == next(f for f in flight.features if f.label == "price").values
    values = {token for token, _ in value_ranks(tokenizer)}
    assert not moved[[i for i in range(len(tokenizer)) if i not in values]].any()
    for (name, x), (_, y) in zip(plain.state_dict().items(), ordered.state_dict().items(),
                                 strict=True):
        if "embed_tokens" not in name and "lm_head" not in name:
            assert torch.equal(x, y), name
    card = (tmp_path / "ordered" / "README.md").read_text()
    assert "--ordered-values" in card and "--ordered-values" not in (
        tmp_path / "plain" / "README.md").read_text()


@pytest.mark.parametrize(("change", "message"), [
    ({"hidden_size": 30}, "--hidden-size must be a multiple of 2 x --heads"),
    ({"heads": 0}, "--heads must be >= 1"),
    ({"vocab_size": 300}, "--vocab-size must be >= 512"),
    ({"hidden_size": 8, "ordered_values": True}, r"--hidden-size must be >= \d+ \(one direction"),
])
def test_a_shape_no_llama_takes_is_refused(tmp_path, change, message):
    config = ScratchConfig(**{**SMALL.__dict__, **change})
    with pytest.raises(ValueError, match=message):
        init_model(tmp_path / "m", config)
    assert not (tmp_path / "m").exists()


def test_the_command_refuses_an_occupied_directory_in_one_line(tmp_path, capsys):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "keep.txt").write_text("mine")
    assert main(["init-model", "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert "exists and is not an empty directory" in err and len(err.strip().splitlines()) == 1
    assert (tmp_path / "m" / "keep.txt").read_text() == "mine"
    assert main(["init-model", "--out", str(tmp_path / "n"), "--hidden-size", "100",
                 "--heads", "8"]) == 2
    assert "--hidden-size must be a multiple" in capsys.readouterr().err
    assert not (tmp_path / "n").exists()


def test_init_train_and_evaluate_from_scratch(tmp_path, capsys):
    model, data = tmp_path / "scratch", tmp_path / "bayes.jsonl"
    assert main(["init-model", "--out", str(model), "--hidden-size", "32", "--layers", "2",
                 "--heads", "2"]) == 0
    assert "parameters" in capsys.readouterr().out
    assert main(["generate", "--teacher", "bayesian", "--domain", "flight-2", "--dialogues",
                 "8", "--user-pool", "train", "--out", str(data)]) == 0
    taught = tmp_path / "taught"
    assert main(["train", "--data", str(data), "--model", str(model), "--out", str(taught),
                 "--full", "--loss-tokens", "digit", "--lr", "1e-2", "--max-steps", "3",
                 "--checkpoint-every", "0", "--no-progress"]) == 0
    losses = [json.loads(line)["loss"] for line in
              (taught / "metrics.jsonl").read_text().splitlines()]
    assert len(losses) == 3 and losses[-1] < losses[0]
    assert main(["evaluate", "--model", str(taught), "--domain", "flight-2", "--users", "2",
                 "--heldout", "3", "--rounds", "1", "--no-progress",
                 "--out", str(tmp_path / "eval")]) == 0
    capsys.readouterr()
    _, summaries = load_results(tmp_path / "eval" / "results.json")
    assert len(summaries["taught"]["heldout_accuracy"]) == 2
