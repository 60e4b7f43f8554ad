"""kill -9 a training process, resume it, and end with the weights of an uninterrupted run."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from bayesflight.train import TrainConfig, train
from bayesflight.train.checkpoint import checkpoints
from safetensors.torch import load_file
from tiny_models import make_tiny_model
from train_dialogues import (
    bayesian_records,
    tensorboard_scalars,
    write_jsonl,
)

# Runs train() and SIGKILLs itself at the n-th optimizer step, or while writing the optimizer
# state of the n-th checkpoint: an abrupt death at a point the test chooses, no timing involved.
CHILD = """
import json, os, signal, sys, torch
from bayesflight.train import TrainConfig, train

config, where, n = TrainConfig(**json.loads(sys.argv[1])), sys.argv[2], int(sys.argv[3])
calls = saves = 0
original_step, original_save = torch.optim.AdamW.step, torch.save

def step(self, *args, **kwargs):
    global calls
    calls += 1
    if where == "step" and calls == n:
        os.kill(os.getpid(), signal.SIGKILL)
    return original_step(self, *args, **kwargs)

def save(obj, *args, **kwargs):
    global saves
    saves += isinstance(obj, dict) and "param_groups" in obj
    if where == "save" and saves == n:
        os.kill(os.getpid(), signal.SIGKILL)
    return original_save(obj, *args, **kwargs)

torch.optim.AdamW.step, torch.save = step, save
train(config)
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    model = make_tiny_model(root / "model")
    data = write_jsonl(root / "data.jsonl", bayesian_records(16, seed=7, rounds=(1, 2, 3)))
    base = {"data": str(data), "model": str(model), "lora_r": 4, "lora_alpha": 8.0,
            "lora_dropout": 0.1, "batch_size": 2, "grad_accum": 2, "epochs": 3, "lr": 5e-3,
            "checkpoint_every": 4, "progress": False}
    reference = train(TrainConfig(out=str(root / "reference"), **base))
    return root, base, reference


def _wait_for_the_second_after(events: Path) -> None:
    """Return once the clock has passed the second named by the event files in ``events``, so
    that the resumed run's file sorts after the killed run's as it does outside a test."""
    last = max(int(f.name.split(".")[3]) for f in events.glob("events.out.tfevents.*"))
    while time.time() < last + 1:
        time.sleep(0.05)


def _weights(out: Path) -> dict[str, torch.Tensor]:
    return load_file(str(out / "adapter_model.safetensors"))


def _losses(out: Path) -> list[tuple[int, float]]:
    lines = (out / "metrics.jsonl").read_text().splitlines()
    return [(r["step"], r["loss"]) for r in map(json.loads, lines)]


@pytest.mark.parametrize(("where", "n", "resumed_from"), [("step", 7, 4), ("save", 2, 4)])
def test_resume_after_kill_9_ends_with_the_uninterrupted_weights(world, where, n, resumed_from):
    root, base, reference = world
    out = root / f"killed-{where}"
    tracked = importlib.util.find_spec("tensorboard") is not None
    settings = {**base, "out": str(out), "report_to": "tensorboard" if tracked else "none"}
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # the same installed bayesflight
    child = subprocess.run([sys.executable, "-c", CHILD, json.dumps(settings), where, str(n)],
                           env=env, capture_output=True, text=True, timeout=300)
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert [p.name for p in checkpoints(out)] == [f"step-{resumed_from:08d}"]
    assert not (out / "adapter_model.safetensors").exists()
    assert len(_losses(out)) == (n - 1 if where == "step" else 8)
    if tracked:  # TensorBoard reads event files in the order of the second in their names
        _wait_for_the_second_after(out / "runs" / out.name)

    train(TrainConfig(**{**settings, "resume": True}))
    steps, losses = zip(*_losses(out), strict=True)
    ref_steps, ref_losses = zip(*_losses(reference), strict=True)
    assert steps == ref_steps == tuple(range(1, 13))
    assert losses == pytest.approx(ref_losses, rel=1e-5)
    mine, theirs = _weights(out), _weights(reference)
    assert mine.keys() == theirs.keys()
    for name in theirs:
        torch.testing.assert_close(mine[name], theirs[name], rtol=1e-5, atol=1e-7)
    assert not (out / "checkpoints").exists()
    if tracked:  # the events the killed run wrote after its checkpoint are replaced, not doubled
        logged = tensorboard_scalars(out / "runs" / out.name)["train/loss"]
        assert [s for s, _ in logged] == list(steps)
        assert [v for _, v in logged] == pytest.approx(losses, rel=1e-6)


def test_a_resumed_curriculum_sees_the_batches_of_an_uninterrupted_one(tmp_path):
    from bayesflight.domains import get_domain

    model = make_tiny_model(tmp_path / "model")
    records = [{**r, "domain": name}
               for name, seed in (("flight-2", 1), ("flight", 2))
               for r in bayesian_records(8, seed=seed, rounds=(1, 2), domain=get_domain(name))]
    data = write_jsonl(tmp_path / "staged.jsonl", records)
    settings = {"data": str(data), "model": str(model), "lora_r": 4, "lora_alpha": 8.0,
                "batch_size": 2, "grad_accum": 2, "epochs": 2, "lr": 5e-3,
                "checkpoint_every": 3, "progress": False, "stage_key": "domain"}
    reference = train(TrainConfig(out=str(tmp_path / "reference"), **settings))
    stages = [json.loads(line)["stage"]
              for line in (reference / "metrics.jsonl").read_text().splitlines()]
    assert stages == ["flight-2", "flight-2", "flight", "flight"] * 2  # each epoch in order
    summary = json.loads((reference / "train_summary.json").read_text())
    assert summary["stages"] == [{"name": "flight-2", "dialogues": 8},
                                 {"name": "flight", "dialogues": 8}]

    out = tmp_path / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    child = subprocess.run([sys.executable, "-c", CHILD, json.dumps({**settings, "out": str(out)}),
                            "step", "6"], env=env, capture_output=True, text=True, timeout=300)
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert [p.name for p in checkpoints(out)] == ["step-00000003"]
    train(TrainConfig(**{**settings, "out": str(out), "resume": True}))
    resumed = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["stage"] for r in resumed] == stages
    assert [r["loss"] for r in resumed] == pytest.approx(
        [loss for _, loss in _losses(reference)], rel=1e-5)
    for name, tensor in _weights(reference).items():
        torch.testing.assert_close(_weights(out)[name], tensor, rtol=1e-5, atol=1e-7)
