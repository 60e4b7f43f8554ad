"""The command line's one vocabulary: one spelling and one meaning per option across the
commands, help with the default on every option, and the old spellings still working one
release, with a warning."""

from __future__ import annotations

import argparse
import json

import pytest
from bayesflight.cli import build_parser, main
from bayesflight.commands import evaluate
from bayesflight.devices import DTYPES

# The options that mean the same thing wherever they appear, and must parse the same.
SHARED = ("--users", "--user-pool", "--seed", "--rounds", "--heldout", "--heldout-file",
          "--options", "--user-noise", "--dtype", "--device", "--domain", "--out", "--evidence")


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {name: p for name, p in sub.choices.items() if name != "train"}


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {s: a for a in parser._actions for s in a.option_strings
            if a.help != argparse.SUPPRESS and not isinstance(a, argparse._HelpAction)}


@pytest.mark.parametrize("command", sorted(_commands()))
def test_every_option_has_help_that_gives_its_default(command):
    for name, action in _options(_commands()[command]).items():
        flag = isinstance(action, (argparse._StoreTrueAction, argparse._VersionAction))
        assert action.help, f"{command} {name}: no help"
        assert flag or action.required or "default" in action.help.lower(), \
            f"{command} {name}: the help does not give the default"


def test_a_shared_option_parses_the_same_everywhere(capsys):
    probes = {"--users": ["7", "0", "x"], "--seed": ["3", "-1"], "--rounds": ["2", "0"],
              "--heldout": ["5", "-1"], "--options": ["4", "1"],
              "--user-noise": ["softmax:2", "gaussian"], "--dtype": ["bf16", "fp16"],
              "--user-pool": ["eval", "some"], "--device": ["cpu"],
              "--evidence": ["worked", "differences", "sums"]}
    required = {"generate": ["--teacher", "bayesian", "--dialogues", "1", "--out", "x"],
                "make-eval": ["--out", "x"], "init-model": ["--out", "x"],
                "probe": ["--data", "x", "--test", "y"]}
    seen: dict[str, dict[str, object]] = {}
    for command, parser in _commands().items():
        for name in set(_options(parser)) & set(probes):
            results = {}
            for text in probes[name]:
                try:
                    args = parser.parse_args([*required.get(command, []), name, text])
                    results[text] = getattr(args, _options(parser)[name].dest)
                except SystemExit:
                    results[text] = "refused"
            seen.setdefault(name, {})[command] = results
    capsys.readouterr()
    assert set(seen) == set(probes)
    for name, by_command in seen.items():
        first = next(iter(by_command.values()))
        assert all(r == first for r in by_command.values()), (name, by_command)


def test_dtype_names_are_those_of_train():
    pytest.importorskip("transformers", reason="train's parser needs the llm extra")
    from bayesflight.commands.train import build_parser as train_parser

    dtype = next(a for a in train_parser()._actions if "--dtype" in a.option_strings)
    assert tuple(dtype.choices) == DTYPES


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith("bayesflight 0.")


def _generate(tmp_path, name: str, *flags: str) -> bytes:
    out = tmp_path / f"{name}.jsonl"
    assert main(["generate", "--teacher", "bayesian", "--dialogues", "6", "--rounds", "2",
                 "--out", str(out), *flags]) == 0
    return out.read_bytes()


def test_old_spellings_warn_and_mean_the_new_ones(tmp_path, capsys):
    new = _generate(tmp_path, "new", "--options", "4", "--user-pool", "train", "--heldout", "7")
    capsys.readouterr()
    old = _generate(tmp_path, "old", "--options-per-round", "4", "--users", "train",
                    "--heldout-sets", "7")
    err = capsys.readouterr().err
    assert old == new
    for old_flag, new_flag in [("--options-per-round", "--options"),
                               ("--users train", "--user-pool train"),
                               ("--heldout-sets", "--heldout")]:
        assert f"warning: {old_flag} is deprecated" in err and f"use {new_flag}" in err


def test_evaluate_takes_the_long_dtype_names_with_a_warning(capsys):
    args = build_parser().parse_args(["evaluate", "--dtype", "bfloat16"])
    assert args.dtype == "bf16"
    assert "--dtype bfloat16 is deprecated" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        build_parser().parse_args(["evaluate", "--dtype", "float16"])
    assert "--dtype: expected one of auto, fp32, bf16" in capsys.readouterr().err


def test_a_default_model_name_never_takes_a_reference_assistants_name(tmp_path):
    adapter = tmp_path / "models" / "bayesian"
    adapter.mkdir(parents=True)
    args = build_parser().parse_args(["evaluate", "--adapter", str(adapter)])
    assert evaluate._model_name(args) == "bayesian-llm"
    assert main(["evaluate", "--name", "bayesian"]) == 2


def test_generate_users_is_a_count(tmp_path):
    data = _generate(tmp_path, "three", "--users", "3", "--seed", "4")
    users = {json.loads(line)["user_id"] for line in data.decode().splitlines()}
    assert len(users) == 3


def test_generate_avoids_the_sets_of_a_heldout_file(tmp_path):
    from bayesflight.evalfiles import read_heldout_sets
    from bayesflight.teacher import TeachingConfig
    from bayesflight.teacher_jsonl import write_dialogues

    assert main(["make-eval", "--domain", "flight-2", "--users", "2", "--heldout", "12",
                 "--seed", "5", "--out", str(tmp_path / "eval")]) == 0
    heldout = tmp_path / "eval" / "heldout" / "flight-2.json"
    data = _generate(tmp_path, "avoiding", "--domain", "flight-2", "--heldout-file",
                     str(heldout))
    from bayesflight.domains import get_domain

    expected = tmp_path / "expected.jsonl"
    write_dialogues(expected, TeachingConfig(
        "bayesian", get_domain("flight-2"), 6, seed=0, n_rounds=2,
        heldout=read_heldout_sets(heldout, get_domain("flight-2"))))
    assert data == expected.read_bytes()
    assert main(["generate", "--teacher", "bayesian", "--dialogues", "2", "--out",
                 str(tmp_path / "x.jsonl"), "--heldout-file", str(heldout),
                 "--heldout-seed", "1"]) == 2


def test_evaluate_offers_the_assistants_modes():
    pytest.importorskip("torch", reason="the assistant needs the llm extra")
    from bayesflight.llm.assistant import MODES

    assert evaluate.MODES == MODES
