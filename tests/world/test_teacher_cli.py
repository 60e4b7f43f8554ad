"""``bayesflight generate``: same arguments same bytes, atomic writes, datasets, clear errors."""

from __future__ import annotations

import json
import os

import pytest
from bayesflight import teacher, teacher_jsonl
from bayesflight.cli import main
from bayesflight.domains import FLIGHT
from bayesflight.teacher import TeachingConfig
from bayesflight.teacher_jsonl import write_dialogues


def generate_cli(capsys, *args: str) -> tuple[int, str]:
    """Run ``bayesflight generate ARGS``: (exit code, stderr)."""
    try:
        code = main(["generate", *args])
    except SystemExit as stop:
        code = stop.code
    return code, capsys.readouterr().err


def test_same_arguments_give_the_same_bytes_across_chunks(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(teacher, "CHUNK", 7)  # several chunks, odd boundaries
    args = ["--teacher", "bayesian", "--dialogues", "30", "--seed", "4",
            "--user-noise", "softmax:2"]
    paths = [tmp_path / name for name in ("a.jsonl", "b.jsonl", "c.jsonl")]
    for path, seed in zip(paths, ("4", "4", "5"), strict=True):
        code, err = generate_cli(capsys, *args[:-3], seed, *args[-2:], "--out", str(path))
        assert code == 0, err
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert paths[0].read_bytes() != paths[2].read_bytes()
    lines = paths[0].read_text().splitlines()
    assert [json.loads(line)["idx"] for line in lines] == list(range(30))


def test_hotel_oracle_through_the_cli(tmp_path, capsys):
    out = tmp_path / "hotel.jsonl"
    code, err = generate_cli(capsys, "--teacher", "oracle", "--domain", "hotel",
                             "--dialogues", "12", "--rounds", "3", "--options", "4",
                             "--user-pool", "eval", "--out", str(out))
    assert code == 0, err
    assert "wrote 12 oracle dialogues" in err
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 12
    assert all(r["domain"] == "hotel" and len(r["option_probs"]) == 3 for r in records)
    assert records[0]["messages"][0]["content"].startswith("Help me select the best hotels")


def test_file_loads_unchanged_with_datasets(tmp_path, capsys):
    datasets = pytest.importorskip("datasets")
    out = tmp_path / "teach.jsonl"
    assert generate_cli(capsys, "--teacher", "bayesian", "--dialogues", "25",
                        "--out", str(out))[0] == 0
    ds = datasets.load_dataset("json", data_files=str(out), split="train",
                               cache_dir=str(tmp_path / "cache"))
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert ds.num_rows == 25
    assert set(ds.column_names) == {"idx", "messages", "option_probs", "teacher", "domain",
                                    "user_id", "reward_fn", "choices"}
    assert ds.to_list() == records
    for row in ds:  # the conversational form TRL's SFT trainer takes
        roles = [m["role"] for m in row["messages"]]
        assert roles == ["user", "assistant"] * 5
        assert len(row["option_probs"]) == roles.count("assistant")


class Interrupted(RuntimeError):
    pass


def test_an_interrupted_run_leaves_no_file_and_keeps_an_old_one(tmp_path, monkeypatch):
    monkeypatch.setattr(teacher, "CHUNK", 10)
    real_render = teacher_jsonl.render
    calls = []

    def failing_render(chunk, config):
        calls.append(chunk.start)
        if chunk.start == 20:
            raise Interrupted("killed mid-write")
        return real_render(chunk, config)

    monkeypatch.setattr(teacher_jsonl, "render", failing_render)
    config = TeachingConfig("bayesian", FLIGHT, 50, seed=0)
    fresh = tmp_path / "fresh.jsonl"
    with pytest.raises(Interrupted):
        write_dialogues(fresh, config)
    assert not fresh.exists()
    old = tmp_path / "old.jsonl"
    old.write_text("previous contents\n")
    with pytest.raises(Interrupted):
        write_dialogues(old, config)
    assert old.read_text() == "previous contents\n"
    assert sorted(os.listdir(tmp_path)) == ["old.jsonl"]  # no temporary file left behind
    assert calls == [0, 10, 20, 0, 10, 20]


@pytest.mark.parametrize(
    ("change", "argument"),
    [
        (["--teacher", "socratic"], "--teacher"),
        (["--dialogues", "0"], "--dialogues"),
        (["--dialogues", "-3"], "--dialogues"),
        (["--dialogues", "many"], "--dialogues"),
        (["--user-noise", "softmax:hot"], "--user-noise"),
        (["--user-noise", "epsilon:1.5"], "--user-noise"),
        (["--user-noise", "gaussian"], "--user-noise"),
        (["--domain", "train"], "--domain"),
        (["--users", "half"], "--users"),
        (["--rounds", "0"], "--rounds"),
        (["--options", "1"], "--options"),
        (["--heldout", "-1"], "--heldout"),
        (["--heldout-seed", "x"], "--heldout-seed"),
        (["--user-pool", "some"], "--user-pool"),
        (["--seed", "-1"], "--seed"),
        (["--out", "{tmp}/missing/teach.jsonl"], "--out"),
        (["--out", "{tmp}/missing/dataset/"], "--out"),
        (["--out", "{tmp}/file.txt/teach.jsonl"], "--out"),
    ],
)
def test_bad_arguments_exit_2_naming_the_argument(tmp_path, capsys, change, argument):
    (tmp_path / "file.txt").write_text("not a directory\n")
    base = {"--teacher": "bayesian", "--dialogues": "5", "--out": str(tmp_path / "t.jsonl")}
    base[change[0]] = change[1].format(tmp=tmp_path)
    code, err = generate_cli(capsys, *[x for pair in base.items() for x in pair])
    assert code == 2
    assert argument in err
    assert not (tmp_path / "t.jsonl").exists()
