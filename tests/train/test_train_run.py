"""Whole training runs on a tiny model: outputs, loading the result, each mode of the loss."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from bayesflight.cli import main
from bayesflight.llm import load_model
from bayesflight.train import TrainConfig, train
from train_dialogues import (
    tensorboard_scalars,
    tiny_world,
)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return tiny_world(tmp_path_factory.mktemp("train_run"), 12, seed=5)


def _metrics(out) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def _config(world, name: str, **overrides) -> TrainConfig:
    root, model, data = world
    settings = {"data": data, "out": str(root / name), "model": model, "lora_r": 4,
                "lora_alpha": 8.0, "batch_size": 4, "lr": 1e-2, "warmup_ratio": 0.0,
                "checkpoint_every": 0, "progress": False, **overrides}
    return TrainConfig(**settings)


def _probe(model, tokenizer) -> torch.Tensor:
    ids = tokenizer("The best option is Flight 2.", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        return model(input_ids=ids).logits


def test_lora_run_lowers_the_loss_and_its_adapter_loads(world):
    root, model, data = world
    assert main(["train", "--data", data, "--model", model, "--out", str(root / "lora"),
                 "--lora", "r=4,alpha=8,dropout=0.05", "--epochs", "4", "--lr", "1e-2",
                 "--batch-size", "4", "--no-progress"]) == 0
    out = root / "lora"
    metrics = _metrics(out)
    assert [m["step"] for m in metrics] == list(range(1, 13))
    losses = [m["loss"] for m in metrics]
    assert np.mean(losses[-3:]) < 0.7 * np.mean(losses[:3])
    assert {"lr", "tokens_per_s", "grad_norm", "answer_nll", "answer_agree"} <= set(metrics[0])
    assert max(m["pad_frac"] for m in metrics) < 0.10
    saved = json.loads((out / "train_config.json").read_text())
    assert saved["lora_r"] == 4 and saved["epochs"] == 4
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["steps"] == 12 and summary["dialogues"] == 12
    assert not (out / "checkpoints").exists()
    tuned, tokenizer = load_model(model, adapter=out, device="cpu")
    alone, _ = load_model(str(out), device="cpu")
    base, _ = load_model(model, device="cpu")
    torch.testing.assert_close(_probe(tuned, tokenizer), _probe(alone, tokenizer))
    assert not torch.allclose(_probe(tuned, tokenizer), _probe(base, tokenizer), atol=1e-3)


def test_full_fine_tuning_writes_a_model_directory(world):
    out = train(_config(world, "full", full=True, max_steps=2, lr=1e-3))
    tuned, tokenizer = load_model(str(out), device="cpu")
    base, _ = load_model(world[1], device="cpu")
    assert not torch.allclose(_probe(tuned, tokenizer), _probe(base, tokenizer), atol=1e-4)
    assert json.loads((out / "train_config.json").read_text())["full"] is True


def test_the_learning_rate_schedules_after_the_warm_up(world):
    """cosine decays from the peak to 0 at the last step; constant keeps the peak."""
    settings = {"max_steps": 4, "warmup_ratio": 0.25, "lr": 1e-2}
    cosine = [m["lr"] for m in _metrics(train(_config(world, "cosine", **settings)))]
    out = train(_config(world, "constant", lr_schedule="constant", **settings))
    constant = [m["lr"] for m in _metrics(out)]
    assert cosine == pytest.approx([0.0, 1e-2, 0.75e-2, 0.25e-2])
    assert constant == pytest.approx([0.0, 1e-2, 1e-2, 1e-2])
    assert "then the same rate to the end" in (out / "README.md").read_text()


def test_soft_target_optimises_the_kl_and_digit_loss_the_answer_token(world):
    soft = _metrics(train(_config(world, "soft", target="soft", max_steps=3)))
    assert all(m["loss"] == pytest.approx(m["kl"]) for m in soft)
    mixed = _metrics(train(_config(world, "mixed", target="soft", soft_weight=0.25,
                                   max_steps=1)))[0]
    assert mixed["loss"] == pytest.approx(0.25 * mixed["kl"] + 0.75 * mixed["ce"])
    digit = _metrics(train(_config(world, "digit", loss_tokens="digit", max_steps=3)))
    assert all(m["ce"] == pytest.approx(m["answer_nll"], rel=1e-5) for m in digit)


def test_gradient_checkpointing_and_bf16_autocast_train_the_same_model(world):
    plain = _metrics(train(_config(world, "plain", max_steps=3, lora_dropout=0.0)))
    ckpt = _metrics(train(_config(world, "gc", max_steps=3, lora_dropout=0.0,
                                  gradient_checkpointing=True)))
    np.testing.assert_allclose([m["loss"] for m in ckpt], [m["loss"] for m in plain],
                               rtol=1e-5)
    bf16 = _metrics(train(_config(world, "bf16", max_steps=3, lora_dropout=0.0,
                                  dtype="bf16")))
    np.testing.assert_allclose([m["loss"] for m in bf16], [m["loss"] for m in plain],
                               rtol=0.05)


def test_an_occupied_output_directory_is_refused_and_a_finished_run_is_left_alone(world):
    root, _, _ = world
    config = _config(world, "occupied", max_steps=1)
    train(config)
    with pytest.raises(ValueError, match="already holds a training run"):
        train(config)
    before = (root / "occupied" / "metrics.jsonl").read_text()
    train(_config(world, "occupied", max_steps=1, resume=True))
    assert (root / "occupied" / "metrics.jsonl").read_text() == before
    with pytest.raises(ValueError, match="cannot resume .* lr: 0.01 != 0.02"):
        train(_config(world, "occupied", max_steps=1, resume=True, lr=0.02))
    (root / "stranger").mkdir()
    (root / "stranger" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty and holds no training run"):
        train(_config(world, "stranger", max_steps=1))


def test_a_moved_run_resumes_and_changed_data_is_refused(world, tmp_path):
    root, _, data = world
    train(_config(world, "moving", max_steps=1))
    moved = tmp_path / "elsewhere"
    (root / "moving").rename(moved)
    copy = tmp_path / "copy.jsonl"
    copy.write_bytes(Path(data).read_bytes())
    before = (moved / "metrics.jsonl").read_text()
    train(_config(world, "moving", max_steps=1, resume=True, out=str(moved), data=str(copy)))
    assert (moved / "metrics.jsonl").read_text() == before  # same run: nothing redone
    copy.write_text("".join(Path(data).read_text().splitlines(True)[:-1]))  # one line less
    with pytest.raises(ValueError, match="is not the file the run was trained on"):
        train(_config(world, "moving", max_steps=1, resume=True, out=str(moved),
                      data=str(copy)))


def test_lora_on_the_top_layer_saves_an_adapter_for_that_layer_only(world):
    out = train(_config(world, "top", lora_layers=1, max_steps=1))
    targets = json.loads((out / "adapter_config.json").read_text())["target_modules"]
    assert targets and all(t.startswith("model.layers.1.") for t in targets)
    tuned, tokenizer = load_model(str(out), device="cpu")
    assert torch.isfinite(_probe(tuned, tokenizer)).all()


def test_a_finished_runs_train_config_reproduces_the_run(world):
    root, model, data = world
    first = root / "configured"
    assert main(["train", "--data", data, "--model", model, "--out", str(first),
                 "--lora", "r=4,alpha=8", "--max-steps", "2", "--lr", "1e-2", "--seed", "7",
                 "--checkpoint-every", "0", "--no-progress"]) == 0
    again = root / "configured-again"
    assert main(["train", "--config", str(first / "train_config.json"),
                 "--out", str(again)]) == 0
    saved = json.loads((again / "train_config.json").read_text())
    assert saved == {**json.loads((first / "train_config.json").read_text()), "out": str(again)}
    drop = ("tokens_per_s", "elapsed_s")  # the only fields that depend on the clock
    strip = [{k: v for k, v in m.items() if k not in drop} for m in _metrics(first)]
    assert [{k: v for k, v in m.items() if k not in drop} for m in _metrics(again)] == strip
    from safetensors.torch import load_file

    a, b = (load_file(d / "adapter_model.safetensors") for d in (first, again))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_report_to_tensorboard_writes_every_metrics_line_as_events(world):
    pytest.importorskip("tensorboard")
    root, model, data = world
    out = root / "tracked"
    assert main(["train", "--data", data, "--model", model, "--out", str(out),
                 "--lora", "r=4,alpha=8", "--max-steps", "2", "--checkpoint-every", "0",
                 "--report-to", "tensorboard", "--run-name", "two-steps", "--no-progress"]) == 0
    scalars = tensorboard_scalars(out / "runs" / "two-steps")
    metrics = _metrics(out)
    for key in ("loss", "answer_nll", "answer_agree", "kl", "lr", "grad_norm", "tokens_per_s"):
        assert [s for s, _ in scalars[f"train/{key}"]] == [1, 2]
        np.testing.assert_allclose([v for _, v in scalars[f"train/{key}"]],
                                   [m[key] for m in metrics], rtol=1e-6)


def test_a_run_on_cached_tokens_trains_exactly_as_one_that_tokenised(world, tmp_path,
                                                                      monkeypatch):
    root, model, data = world
    own = tmp_path / "data.jsonl"  # a folder of its own, to see what the cache writes there
    own.write_bytes(Path(data).read_bytes())
    plain = _metrics(train(_config(world, "uncached", data=str(own), max_steps=2,
                                   token_cache=False)))
    assert [p.name for p in tmp_path.iterdir()] == ["data.jsonl"]
    train(_config(world, "caching", data=str(own), max_steps=2))
    assert len(list(tmp_path.glob(".data.jsonl.*.tokens.npz"))) == 1
    from bayesflight.train import tokencache

    monkeypatch.setattr(tokencache, "encode_dialogues", lambda *a, **k: 1 / 0)
    cached = _metrics(train(_config(world, "cached", data=str(own), max_steps=2)))
    assert [m["loss"] for m in cached] == [m["loss"] for m in plain]
    # reproduce trains the hard and the soft Bayesian variants on one file: one tokenising
    train(_config(world, "soft-cached", data=str(own), max_steps=1, target="soft"))
