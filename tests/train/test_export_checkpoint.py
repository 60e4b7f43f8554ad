"""export-checkpoint writes what a run would have written had it ended at the checkpoint's step;
bad input is one line and leaves nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from bayesflight.cli import main
from bayesflight.llm import load_model
from bayesflight.train import TrainConfig, train
from safetensors.torch import load_file
from train_dialogues import fail_optimizer_step, tiny_world


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return tiny_world(tmp_path_factory.mktemp("export"), 8, seed=11, rounds=(2, 3))


def _config(world, out: Path, full: bool, **overrides) -> TrainConfig:
    _, model, data = world
    return TrainConfig(**{"data": data, "out": str(out), "model": model, "full": full,
                          "lora_r": 4, "lora_alpha": 8.0, "batch_size": 2, "lr": 1e-2,
                          "lr_schedule": "constant", "warmup_ratio": 0.0, "progress": False,
                          **overrides})


def _stopped_run(world, out: Path, full: bool, monkeypatch) -> Path:
    """A run of 4 steps that fails in its 4th, after the checkpoint of step 2."""
    with monkeypatch.context() as patch:
        fail_optimizer_step(patch, 4, RuntimeError("stopped by hand, say"))
        with pytest.raises(RuntimeError, match="stopped by hand"):
            train(_config(world, out, full, max_steps=4, checkpoint_every=2))
    assert (out / "checkpoints" / "step-00000002").is_dir()
    return out


def _weights(out: Path, full: bool) -> dict[str, torch.Tensor]:
    return load_file(str(out / ("model.safetensors" if full else "adapter_model.safetensors")))


def _steps(out: Path) -> list[tuple[int, float]]:
    return [(m["step"], m["loss"]) for m in
            map(json.loads, (out / "metrics.jsonl").read_text().splitlines())]


@pytest.mark.parametrize("full", [True, False], ids=["full", "lora"])
def test_the_export_is_the_run_ended_at_that_step(world, tmp_path, monkeypatch, full):
    """At a constant rate, a run of 4 steps stopped after its checkpoint of step 2, exported,
    equals a run of 2 steps: the same weights, metrics and loading."""
    run = _stopped_run(world, tmp_path / "run", full, monkeypatch)
    ended = train(_config(world, tmp_path / "ended", full, max_steps=2, checkpoint_every=0))
    out = tmp_path / "exported"
    assert main(["export-checkpoint", "--run", str(run), "--out", str(out)]) == 0
    mine, theirs = _weights(out, full), _weights(ended, full)
    assert mine.keys() == theirs.keys()
    for name in theirs:
        torch.testing.assert_close(mine[name], theirs[name], rtol=0, atol=0)
    assert _steps(out) == _steps(ended) == _steps(run)[:2]  # the run logged step 3 too
    assert len(_steps(run)) == 3
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["steps"] == 2 and summary["checkpoint"] == {"run": str(run), "step": 2}
    assert summary["dialogues"] == 8
    assert json.loads((out / "train_config.json").read_text())["out"] == str(out)
    assert "the checkpoint of step 2 of the run" in (out / "README.md").read_text()
    _, model, _ = world
    loaded, _ = (load_model(str(out), device="cpu") if full else
                 load_model(model, adapter=out, device="cpu"))
    assert not loaded.training
    assert (run / "checkpoints" / "step-00000002").is_dir()  # the run can still be resumed
    assert not list(tmp_path.glob(".exported.export-*"))


def test_bad_input_is_one_line_and_leaves_nothing(world, tmp_path, monkeypatch, capsys):
    root, _, data = world
    run = _stopped_run(world, tmp_path / "run", True, monkeypatch)
    finished = train(_config(world, tmp_path / "finished", True, max_steps=1))
    taken = tmp_path / "taken"
    taken.mkdir()
    cases = [
        (["--run", str(root), "--out", str(tmp_path / "a")],
         f"--run: {str(root)!r} is not a training run's directory (it has no "
         f"train_config.json)"),
        (["--run", str(finished), "--out", str(tmp_path / "a")],
         f"--run: {str(finished)!r} holds no checkpoint (the run finished: its directory is "
         f"the model)"),
        (["--run", str(run), "--step", "3", "--out", str(tmp_path / "a")],
         f"--step: {str(run)!r} holds the checkpoint of step 2, not 3"),
        (["--run", str(run), "--out", str(taken)],
         f"--out: {str(taken)!r} exists; give a new directory"),
        (["--run", str(run), "--out", str(tmp_path / "no" / "a")],
         f"--out: directory {str(tmp_path / 'no')!r} does not exist"),
    ]
    capsys.readouterr()  # the training runs' output
    for args, expected in cases:
        assert main(["export-checkpoint", *args]) == 2
        err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert err == [f"bayesflight export-checkpoint: error: {expected}"]
    original = Path(data).read_bytes()
    try:
        Path(data).write_bytes(original + original.splitlines(keepends=True)[0])
        assert main(["export-checkpoint", "--run", str(run), "--out", str(tmp_path / "a")]) == 2
        err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert err == [f"bayesflight export-checkpoint: error: --run: the data file {data!r} "
                       f"is not the one the run trained on (its SHA-256 changed since)"]
    finally:
        Path(data).write_bytes(original)
    assert not (tmp_path / "a").exists() and not list(tmp_path.glob(".a.export-*"))
