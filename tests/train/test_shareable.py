"""Outputs others can use without bayesflight: adapters whose base transformers and peft find,
model cards, a dataset card that datasets reads and whose command remakes the data, and the
chat template under which TRL's SFTTrainer labels the same tokens as bayesflight."""

from __future__ import annotations

import json
import re

import datasets
import numpy as np
import pytest
import torch
from bayesflight.cli import main
from bayesflight.llm import load_model
from bayesflight.llm.embedded import EMBEDDED, EmbeddedModel, converted_dir
from bayesflight.train import TrainConfig, train
from bayesflight.train.data import read_dialogues, tokenize_dialogues
from bayesflight.train.template import (
    TEMPLATE_FILE,
    check_training_template,
    training_template,
)
from huggingface_hub import DatasetCard, ModelCard
from tiny_models import CHATML_TEMPLATE, make_tiny_model
from train_dialogues import tiny_world


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return tiny_world(tmp_path_factory.mktemp("shareable"), 8, seed=2)


def _settings(world, out: str, **overrides) -> TrainConfig:
    root, model, data = world
    return TrainConfig(**{"data": data, "out": str(root / out), "model": model, "lora_r": 4,
                          "lora_alpha": 8.0, "max_steps": 1, "lr": 1e-2,
                          "checkpoint_every": 0, "progress": False, **overrides})


def _logits(model, tokenizer) -> torch.Tensor:
    ids = tokenizer("The best option is Flight 2.", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        return model(input_ids=ids).logits


@pytest.fixture
def embedded(world, tmp_path, monkeypatch):
    """An embedded model (as smollm2-135m is) whose converted directory holds the tiny model."""
    monkeypatch.setenv("BAYESFLIGHT_CACHE", str(tmp_path / "cache"))
    spec = EmbeddedModel(name="tiny-embedded", package="tiny-embedded-pkg", version="1.0",
                         member="tiny/tiny.gguf", size=1, sha256="0" * 64)
    monkeypatch.setitem(EMBEDDED, spec.name, spec)
    from bayesflight.llm.integrity import write_manifest

    write_manifest(make_tiny_model(converted_dir(spec)))  # a finished conversion
    return spec


def test_an_adapter_of_an_embedded_model_loads_with_peft_from_its_own_folder(world, embedded):
    from peft import AutoPeftModelForCausalLM

    out = train(_settings(world, "embedded-lora", model=embedded.name))
    recorded = json.loads((out / "adapter_config.json").read_text())["base_model_name_or_path"]
    assert recorded == str(converted_dir(embedded))  # not the bare embedded name
    peft_model = AutoPeftModelForCausalLM.from_pretrained(str(out))  # the hub is offline
    ours, tokenizer = load_model(str(out), device="cpu")
    torch.testing.assert_close(_logits(peft_model, tokenizer), _logits(ours, tokenizer),
                               rtol=1e-4, atol=1e-4)
    # bayesflight still knows that base by its embedded name.
    named, _ = load_model(embedded.name, adapter=out, device="cpu")
    torch.testing.assert_close(_logits(named, tokenizer), _logits(ours, tokenizer))
    card = ModelCard.load(out / "README.md")
    assert card.data.library_name == "peft"
    assert "8 teaching dialogues" in card.text and "AutoPeftModelForCausalLM" in card.text
    assert "answer NLL" in card.text and "lora_r" in card.text


def test_a_full_fine_tune_carries_a_model_card_naming_its_base(world):
    out = train(_settings(world, "full-card", full=True, lr=1e-4))
    card = ModelCard.load(out / "README.md")
    assert card.data.library_name == "transformers"
    assert world[1] in card.text and "full fine-tuning" in card.text
    assert "optimizer steps | 1" in card.text


@pytest.mark.parametrize("turns", [[], ["--scores"], ["--scores", "--evidence"],
                                   ["--evidence", "worked"]])
def test_generate_into_a_directory_writes_a_dataset_card_that_remakes_the_data(tmp_path,
                                                                                capsys, turns):
    first = tmp_path / "bayes"
    assert main(["generate", "--teacher", "bayesian", "--dialogues", "6", "--seed", "3",
                 "--rounds", "2", "--user-noise", "softmax:2", *turns,
                 "--out", f"{first}/"]) == 0
    capsys.readouterr()
    card = DatasetCard.load(first / "README.md")
    assert (("then scores every option against that statement" in card.text)
            == ("--scores" in turns))
    assert ("what the user's last choice reveals" in card.text) == ("--evidence" in turns)
    assert card.data.configs[0]["data_files"][0] == {"split": "train", "path": "train.jsonl"}
    for field in ("idx", "messages", "option_probs", "teacher", "domain", "user_id",
                  "reward_fn", "choices"):
        assert f"| `{field}` |" in card.text
    loaded = datasets.load_dataset(str(first), split="train", cache_dir=str(tmp_path / "c"))
    records = [json.loads(line) for line in (first / "train.jsonl").read_text().splitlines()]
    assert loaded.to_list() == records
    # The card's command, run again, writes the same bytes.
    command = re.search(r"```bash\n(bayesflight generate .*)\n```", card.text).group(1).split()
    again = tmp_path / "again"
    at = command.index("--out") + 1
    assert command[at] == f"{first}/"  # a directory: the dialogues and the card again
    command[at] = f"{again}/"
    assert main(command[1:]) == 0
    capsys.readouterr()
    assert (again / "train.jsonl").read_bytes() == (first / "train.jsonl").read_bytes()


def test_the_training_template_marks_exactly_bayesflights_labels(world):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(world[1])
    records = read_dialogues(world[2])
    marked = training_template(CHATML_TEMPLATE)
    assert "{% generation %}" in marked
    assert check_training_template(tokenizer, marked, records) is None
    # Markers that also take in the newline after the end-of-turn token label one token more.
    wrong = marked.replace("'<|im_end|>' }}{% endgeneration %}{{ '\n' }}",
                           "'<|im_end|>\n' }}{% endgeneration %}")
    assert wrong != marked
    assert "not the same ones" in check_training_template(tokenizer, wrong, records)
    assert training_template("{{ messages[0]['content'] }}") is None  # no place known
    out = train(_settings(world, "templated"))
    assert (out / TEMPLATE_FILE).read_text() == marked


def test_trl_labels_the_same_tokens_as_bayesflight(world):
    """What a TRL user runs: the same JSONL, SFTTrainer(assistant_only_loss=True) with the
    template the bayesflight run wrote."""
    pytest.importorskip("trl")
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    root, model_dir, data = world
    run = root / "templated"
    if not run.exists():
        train(_settings(world, "templated"))
    trainer = SFTTrainer(
        model=AutoModelForCausalLM.from_pretrained(model_dir),
        processing_class=AutoTokenizer.from_pretrained(model_dir),
        train_dataset=datasets.load_dataset("json", data_files=data, split="train",
                                            cache_dir=str(root / "hf-cache")),
        args=SFTConfig(output_dir=str(root / "trl"), assistant_only_loss=True,
                       chat_template_path=str(run / TEMPLATE_FILE), max_length=None,
                       report_to="none", use_cpu=True))
    ours = tokenize_dialogues(read_dialogues(data), AutoTokenizer.from_pretrained(model_dir),
                              max_len=4096)
    rows = list(trainer.train_dataset)
    assert len(rows) == len(ours.examples) == 8
    for row, example in zip(rows, ours.examples, strict=True):
        np.testing.assert_array_equal(row["input_ids"], example.input_ids)
        labelled = np.asarray(row["labels"]) != -100
        np.testing.assert_array_equal(labelled, example.labelled)
    batch = trainer.data_collator(rows[:2])  # the collator keeps those labels
    assert int((batch["labels"] != -100).sum()) == sum(
        int(e.labelled.sum()) for e in ours.examples[:2])
