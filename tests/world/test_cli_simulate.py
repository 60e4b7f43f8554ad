"""``bayesflight simulate`` and ``bayesflight make-eval`` end to end, on small sets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bayesflight.cli import main
from bayesflight.results import SUMMARY_KEYS, load_results

SMALL = ["--users", "30", "--heldout", "20", "--rounds", "3", "--seed", "4", "--no-progress"]


def test_simulate_prints_the_table_and_writes_results_and_plot(tmp_path: Path, capsys) -> None:
    assert main(["simulate", *SMALL, "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "held-out accuracy" in out and "prior-majority" in out and "round 3" in out
    config, summaries = load_results(tmp_path / "results.json")
    assert list(summaries) == ["bayesian", "oracle", "random", "cheapest", "prior-majority",
                              "statement"]
    assert (config["n_users"], config["n_rounds"], config["n_heldout"]) == (30, 3, 20)
    assert config["domain"] == "flight" and config["seed"] == 4
    for summary in summaries.values():
        assert all(key in summary for key in SUMMARY_KEYS)
        assert len(summary["heldout_accuracy"]) == 4 and len(summary["interaction_accuracy"]) == 3
    assert summaries["oracle"]["heldout_accuracy"] == [1.0] * 4
    assert f"{summaries['bayesian']['heldout_accuracy'][3]:.3f}" in out
    assert (tmp_path / "accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_simulate_on_the_papers_files_gives_the_same_numbers(tmp_path: Path, capsys) -> None:
    files = tmp_path / "eval"
    assert main(["make-eval", "--domain", "hotel", *SMALL[:-1], "--out", str(files)]) == 0
    assert main(["simulate", "--domain", "hotel", *SMALL, "--assistants", "bayesian,oracle",
                 "--out", str(tmp_path / "generated")]) == 0
    assert main(["simulate", "--assistants", "oracle,bayesian", "--no-progress",
                 "--interactions", str(files / "interaction" / "hotel.jsonl"),
                 "--heldout-file", str(files / "heldout" / "hotel.json"),
                 "--out", str(tmp_path / "files")]) == 0
    capsys.readouterr()
    generated = json.loads((tmp_path / "generated" / "results.json").read_text())
    from_files = json.loads((tmp_path / "files" / "results.json").read_text())
    assert from_files["config"]["domain"] == "hotel"
    assert list(from_files["assistants"]) == ["oracle", "bayesian"]
    assert from_files["assistants"]["bayesian"] == generated["assistants"]["bayesian"]


def test_simulate_with_noisy_users_assumes_their_noise(tmp_path: Path, capsys) -> None:
    noisy = [*SMALL, "--user-noise", "softmax:3", "--assistants", "bayesian,random"]
    assert main(["simulate", *noisy, "--out", str(tmp_path)]) == 0
    config, summaries = load_results(tmp_path / "results.json")
    assert config["belief_model"] == "softmax:3"
    assert summaries["bayesian"]["heldout_accuracy"][-1] > 0.5
    capsys.readouterr()


@pytest.mark.parametrize("args,message", [
    (["--assistants", "bayesian,gpt"], "--assistants"),
    (["--assistants", ""], "--assistants"),
    (["--interactions", "x.jsonl"], "go together"),
    (["--user-noise", "epsilon:0.4", "--belief-model", "deterministic"], "--belief-model"),
])
def test_simulate_reports_bad_input(args: list, message: str, tmp_path: Path, capsys) -> None:
    assert main(["simulate", *SMALL, *args, "--out", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("args", [["--users", "0"], ["--rounds", "x"], ["--seed", "-1"],
                                  ["--domain", "train"], ["--user-noise", "softmax:-2"],
                                  ["--belief-model", "epsilon:2"]])
def test_arguments_are_checked_by_the_parser(args: list, tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["simulate", *args, "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "error" in capsys.readouterr().err


def test_make_eval_writes_the_two_files(tmp_path: Path, capsys) -> None:
    assert main(["make-eval", "--domain", "flight-6", "--users", "5", "--seed", "2",
                 "--out", str(tmp_path)]) == 0
    assert "5 users" in capsys.readouterr().out
    lines = (tmp_path / "interaction" / "flight-6.jsonl").read_text().splitlines()
    assert len(lines) == 5 and len(json.loads(lines[0])["features"]) == 6
    assert len(json.loads((tmp_path / "heldout" / "flight-6.json").read_text())["user_idxs"]) == 5


def test_simulate_refuses_a_held_out_file_that_contradicts_itself(tmp_path: Path, capsys):
    files = tmp_path / "eval"
    assert main(["make-eval", *SMALL[:-1], "--out", str(files)]) == 0
    heldout = files / "heldout" / "flight.json"
    held = json.loads(heldout.read_text())
    for entry in held["user_idxs"][::3]:
        entry["idxs"][0] = (entry["idxs"][0] + 1) % 3
    heldout.write_text(json.dumps(held))
    capsys.readouterr()
    code = main(["simulate", "--assistants", "oracle", "--no-progress", "--out",
                 str(tmp_path / "out"), "--interactions",
                 str(files / "interaction" / "flight.jsonl"), "--heldout-file", str(heldout)])
    err = capsys.readouterr().err
    assert code == 2 and "contradicts the entry's reward_fn" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out" / "results.json").exists()


def test_a_directory_as_the_interactions_file_is_one_line(tmp_path: Path, capsys):
    code = main(["simulate", "--no-progress", "--out", str(tmp_path / "out"),
                 "--interactions", str(tmp_path), "--heldout-file", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().splitlines() == [
        f"bayesflight simulate: error: interactions file {tmp_path} is a directory; "
        "expected a JSONL file"]
