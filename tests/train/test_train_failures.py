"""A failed or interrupted training run leaves nothing that blocks a rerun; bad input is one
line, found before anything is created or the model is loaded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from bayesflight import llm
from bayesflight.cli import main
from bayesflight.train import TrainConfig, train
from train_dialogues import fail_optimizer_step, tiny_world


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return tiny_world(tmp_path_factory.mktemp("train_failures"), 4, seed=3, rounds=(2,))


def _flags(world, out: Path, data: str | None = None) -> list[str]:
    _, model, good = world
    return ["train", "--data", data or good, "--model", model, "--out", str(out), "--lora",
            "r=4,alpha=8", "--max-steps", "2", "--batch-size", "2", "--no-progress"]


def _config(world, out: Path, **overrides) -> TrainConfig:
    _, model, data = world
    return TrainConfig(**{"data": data, "out": str(out), "model": model, "lora_r": 4,
                          "lora_alpha": 8.0, "batch_size": 2, "max_steps": 2,
                          "progress": False, **overrides})


def _last_line(capsys) -> tuple[str, int]:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    return lines[-1], len([line for line in lines if line.startswith("bayesflight")])


def test_bad_data_is_refused_before_anything_is_created_or_loaded(world, tmp_path,
                                                                  monkeypatch, capsys):
    bad = tmp_path / "bad.jsonl"
    good = Path(world[2]).read_text().splitlines()
    bad.write_text("\n".join([good[0], good[1][:-9], *good[2:]]) + "\n")
    out = tmp_path / "run"

    def no_loading(*_args, **_kwargs):
        raise AssertionError("the model was loaded before the data was checked")

    with monkeypatch.context() as patch:
        patch.setattr(llm, "load_model", no_loading)
        assert main(_flags(world, out, str(bad))) == 2
    line, count = _last_line(capsys)
    assert line.startswith(f"bayesflight train: error: {bad} line 2: not valid JSON")
    assert count == 1
    assert not out.exists()
    bad.write_text("\n".join(good) + "\n")  # fixed: the same command now just runs
    assert main(_flags(world, out, str(bad))) == 0
    assert (out / "train_summary.json").is_file()


def test_a_run_failing_before_its_first_checkpoint_leaves_nothing(world, tmp_path,
                                                                  monkeypatch):
    out = tmp_path / "run"
    out.mkdir()  # an empty directory stays, as it was
    with monkeypatch.context() as patch:
        patch.setattr(torch.optim.AdamW, "step", lambda *a, **k: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            train(_config(world, out, checkpoint_every=1))
    assert out.is_dir() and list(out.iterdir()) == []
    assert train(_config(world, out)) == out  # no --resume needed, none refused


def test_a_run_failing_after_a_checkpoint_is_kept_for_resume(world, tmp_path, monkeypatch):
    out = tmp_path / "run"
    with monkeypatch.context() as patch:
        fail_optimizer_step(patch, 2, RuntimeError("out of memory, say"))
        with pytest.raises(RuntimeError):
            train(_config(world, out, checkpoint_every=1))
    assert (out / "checkpoints" / "step-00000001").is_dir()
    (out / ".result-k2j9xq").mkdir()  # what a run killed while saving its result leaves
    (out / ".result-k2j9xq" / "model.safetensors").write_bytes(b"half of it")
    train(_config(world, out, checkpoint_every=1, resume=True))
    assert not (out / ".result-k2j9xq").exists()
    assert [json.loads(x)["step"] for x in (out / "metrics.jsonl").read_text().splitlines()] \
        == [1, 2]


def test_ctrl_c_before_a_checkpoint_is_one_line_and_leaves_nothing(world, tmp_path,
                                                                   monkeypatch, capsys):
    out = tmp_path / "run"

    def interrupt(*_args, **_kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(torch.optim.AdamW, "step", interrupt)
        assert main(_flags(world, out)) == 130
    line, count = _last_line(capsys)
    assert line == (f"bayesflight train: interrupted; no checkpoint was reached, so nothing "
                    f"was kept in {out}; rerun the same command to start again")
    assert count == 1 and not out.exists()


def test_ctrl_c_after_a_checkpoint_says_how_to_resume(world, tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    with monkeypatch.context() as patch:
        fail_optimizer_step(patch, 2, KeyboardInterrupt())
        assert main([*_flags(world, out), "--checkpoint-every", "1"]) == 130
    line, _ = _last_line(capsys)
    assert line == (f"bayesflight train: interrupted; kept the checkpoint of step 1 in {out}; "
                    f"rerun with --resume to continue from it, or evaluate it after "
                    f"bayesflight export-checkpoint --run {out} --out DIR")
    assert main([*_flags(world, out), "--checkpoint-every", "1", "--resume"]) == 0


def test_resume_of_a_missing_run_does_not_start_a_fresh_one(world, tmp_path, capsys):
    out = tmp_path / "never"
    assert main([*_flags(world, out), "--resume"]) == 2
    line, _ = _last_line(capsys)
    assert line == (f"bayesflight train: error: --resume: {out} holds no training run to "
                    f"continue (no train_config.json); leave out --resume to start a new run "
                    f"there")
    assert not out.exists()


@pytest.mark.parametrize("case", ["out is the data file", "data is a directory",
                                  "missing data"])
def test_wrong_paths_are_one_line(world, tmp_path, capsys, case):
    root, _, data = world
    if case == "out is the data file":
        args, expected = _flags(world, Path(data)), (
            f"--out {data} is a file; expected a directory for the run")
    elif case == "data is a directory":
        args, expected = _flags(world, tmp_path / "run", str(root)), (
            f"data file {root} is a directory; expected a JSONL file of dialogues")
    else:
        args, expected = _flags(world, tmp_path / "run", str(root / "none.jsonl")), (
            f"data file {root / 'none.jsonl'} does not exist")
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"bayesflight train: error: {expected}"] or (
        len(err) == 1 and err[0].startswith(f"bayesflight train: error: {expected}"))
    assert not (tmp_path / "run").exists()
