"""``bayesflight evaluate`` end to end on a tiny model: results, plot, resume, bad input."""

from __future__ import annotations

import argparse
import json
import re

import numpy as np
import pytest
from bayesflight.cli import main
from bayesflight.commands.options import evalset_from_args
from bayesflight.llm import load_model
from bayesflight.llm.assistant import LLMAssistant
from bayesflight.protocol import run_assistant
from bayesflight.results import SUMMARY_KEYS, load_results
from bayesflight.transcript import Transcript
from tiny_models import make_tiny_model

SMALL = ["--users", "3", "--heldout", "4", "--rounds", "2", "--seed", "5", "--no-progress"]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("tiny") / "tiny")


def test_evaluate_writes_results_beside_the_bayesian_of_simulate(tiny_dir, tmp_path, capsys):
    assert main(["evaluate", "--model", str(tiny_dir), *SMALL, "--batch-size", "3",
                 "--out", str(tmp_path / "eval")]) == 0
    out = capsys.readouterr().out
    assert "held-out accuracy" in out and "tiny" in out and "round 2" in out
    config, summaries = load_results(tmp_path / "eval" / "results.json")
    assert list(summaries) == ["tiny", "bayesian", "prior-majority"]  # the line to clear
    gain = summaries["tiny"]["update_gain"]
    acc = summaries["tiny"]["heldout_accuracy"]
    assert gain == pytest.approx(acc[-1] - acc[0])
    low, high = summaries["tiny"]["update_gain_ci95"]
    assert low <= gain <= high
    assert "update gain" in out and config["questions"] == 3 * (3 * 4 + 2)
    assert (config["model"], config["mode"], config["device"], config["dtype"]) == (
        str(tiny_dir), "score", "cpu", "float32")
    assert (config["n_users"], config["n_rounds"], config["n_heldout"], config["seed"]) == (
        3, 2, 4, 5)
    for summary in summaries.values():
        assert all(key in summary for key in SUMMARY_KEYS)
        assert len(summary["heldout_accuracy"]) == 3
    assert (tmp_path / "eval" / "accuracy.png").read_bytes()[:4] == b"\x89PNG"
    answers = Transcript.load(tmp_path / "eval" / "tiny.transcript.npz").heldout_recommendations
    assert config["answers_by_option"] == (np.bincount(answers.ravel(), minlength=3)
                                           / answers.size).tolist()
    block = out.split("held-out answers by option position")[1].splitlines()
    assert block[1].split() == ["assistant", "option", "1", "option", "2", "option", "3"]
    assert block[2].split() == ["tiny", *(f"{v:.3f}" for v in config["answers_by_option"])]

    assert main(["simulate", "--assistants", "bayesian", *SMALL,
                 "--out", str(tmp_path / "sim")]) == 0
    capsys.readouterr()
    _, simulated = load_results(tmp_path / "sim" / "results.json")
    assert simulated["bayesian"] == summaries["bayesian"]


def test_the_cli_runs_the_protocol_with_the_llm_assistant(tiny_dir, tmp_path, capsys):
    assert main(["evaluate", "--model", str(tiny_dir), *SMALL, "--name", "m",
                 "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    saved = Transcript.load(tmp_path / "m.transcript.npz")
    evalset = evalset_from_args(argparse.Namespace(
        domain=None, seed=5, users=3, rounds=2, heldout=4, options=3,
        user_noise="deterministic", user_pool="all"))
    direct = run_assistant(LLMAssistant(*load_model(str(tiny_dir))), evalset, progress=False)
    np.testing.assert_allclose(saved.heldout_predictive, direct.heldout_predictive, atol=1e-5)
    np.testing.assert_array_equal(saved.round_recommendations, direct.round_recommendations)


def test_resume_keeps_finished_users_and_refuses_another_run(tiny_dir, tmp_path, capsys):
    base = ["evaluate", "--model", str(tiny_dir), *SMALL, "--out", str(tmp_path)]
    assert main(base) == 0
    checkpoint = tmp_path / "tiny.transcript.npz"
    full = Transcript.load(checkpoint)
    partial = Transcript.load(checkpoint)
    partial.heldout_predictive[0] = 1 / 3  # a finished user the resumed run must keep as is
    partial.completed[1:] = False
    partial.heldout_predictive[1:] = np.nan
    partial.save(checkpoint)
    assert main([*base, "--resume"]) == 0
    resumed = Transcript.load(checkpoint)
    assert resumed.completed.all()
    np.testing.assert_array_equal(resumed.heldout_predictive[0], 1 / 3)
    np.testing.assert_allclose(resumed.heldout_predictive[1:], full.heldout_predictive[1:],
                               atol=1e-6)
    assert main([*base, "--resume", "--seed", "6"]) == 2
    assert "other ['seed']" in capsys.readouterr().err
    # a run of an earlier release recorded the long dtype name; its new spelling resumes it
    key = checkpoint.with_suffix(".json")
    key.write_text(json.dumps({**json.loads(key.read_text()), "dtype": "float32"}))
    assert main([*base, "--resume", "--dtype", "fp32"]) == 0


def test_generate_mode_reports_parse_failures(tiny_dir, tmp_path, capsys):
    assert main(["evaluate", "--model", str(tiny_dir), *SMALL, "--mode", "generate",
                 "--max-new-tokens", "4", "--domain", "hotel", "--out", str(tmp_path)]) == 0
    assert "parse failures:" in capsys.readouterr().out
    config = json.loads((tmp_path / "results.json").read_text())["config"]
    assert config["domain"] == "hotel" and 0 <= config["parse_failure_rate"] <= 1


def test_given_mode_runs_end_to_end_as_the_assistant_does(tiny_dir, tmp_path, capsys):
    assert main(["evaluate", "--model", str(tiny_dir), *SMALL, "--mode", "given",
                 "--name", "m", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "given mode" in out and "parse failures" not in out  # the model writes nothing
    config = json.loads((tmp_path / "results.json").read_text())["config"]
    assert config["mode"] == "given" and config["parse_failure_rate"] is None
    saved = Transcript.load(tmp_path / "m.transcript.npz")
    evalset = evalset_from_args(argparse.Namespace(
        domain=None, seed=5, users=3, rounds=2, heldout=4, options=3,
        user_noise="deterministic", user_pool="all"))
    direct = run_assistant(LLMAssistant(*load_model(str(tiny_dir)), mode="given"), evalset,
                           progress=False)
    np.testing.assert_allclose(saved.heldout_predictive, direct.heldout_predictive, atol=1e-5)
    np.testing.assert_array_equal(saved.round_recommendations, direct.round_recommendations)


def test_belief_mode_says_how_often_its_statements_are_the_teachers(tiny_dir, tmp_path,
                                                                     capsys):
    from bayesflight.statements import statement_agreement

    assert main(["evaluate", "--model", str(tiny_dir), *SMALL, "--mode", "belief",
                 "--max-new-tokens", "4", "--name", "m", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "belief statements equal to the Bayesian teacher's" in out
    assert "one fixed sentence" in out and "parse failures:" in out
    exact = json.loads((tmp_path / "results.json").read_text())["config"]["statements_exact"]
    said = json.loads((tmp_path / "m.statements.json").read_text())
    evalset = evalset_from_args(argparse.Namespace(
        domain=None, seed=5, users=3, rounds=2, heldout=4, options=3,
        user_noise="deterministic", user_pool="all"))
    agree, most_common = statement_agreement(
        evalset.domain, evalset.rounds, evalset.choices,
        np.array([said[str(u)] for u in range(3)], dtype=object))
    assert exact == {"model": list(agree), "most_common": list(most_common)}
    assert most_common[0] == 1.0 and len(agree) == 2


def test_given_mode_with_scores_says_how_often_the_scores_were_the_statements(tiny_dir,
                                                                            tmp_path, capsys):
    from bayesflight.option_scores import scores_agreement

    assert main(["evaluate", "--model", str(tiny_dir), *SMALL, "--mode", "given", "--scores",
                 "--name", "m", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "option scores equal to those of the statement before them" in out
    assert re.search(r"parse failures: \d+ of \d+ scores", out)  # it wrote them each time
    config = json.loads((tmp_path / "results.json").read_text())["config"]
    assert config["scores"] is True and len(config["scores_exact"]) == 2
    assert "statements_exact" not in config  # the statements were given, not its own
    _, summaries = load_results(tmp_path / "results.json")
    assert list(summaries) == ["m", "bayesian", "prior-majority", "statement"]
    written = json.loads((tmp_path / "m.statements.json").read_text())
    evalset = evalset_from_args(argparse.Namespace(
        domain=None, seed=5, users=3, rounds=2, heldout=4, options=3,
        user_noise="deterministic", user_pool="all"))
    texts = np.array([written[str(u)] for u in range(3)], dtype=object)
    assert all(t.startswith("So far: ") for t in texts.ravel())  # the given statement first
    assert config["scores_exact"] == list(scores_agreement(evalset.domain, evalset.rounds,
                                                           texts))
    # a run with scores does not resume one without
    assert main(["evaluate", "--model", str(tiny_dir), *SMALL, "--mode", "given", "--name",
                 "m", "--out", str(tmp_path), "--resume"]) == 2
    assert "other ['scores']" in capsys.readouterr().err


@pytest.mark.parametrize(("flag", "form"), [(["--evidence"], "differences"),
                                            (["--evidence", "worked"], "worked")])
def test_belief_mode_with_evidence_says_how_often_the_evidence_was_exact(tiny_dir, tmp_path,
                                                                         capsys, flag, form):
    from bayesflight.evidence import evidence_agreement, evidence_agreement_by_feature

    assert main(["evaluate", "--model", str(tiny_dir), *SMALL, "--mode", "belief",
                 *flag, "--name", "m", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "evidence equal to that of the user's last choice, by round" in out
    assert "m's evidence on each feature equal to that of the user's last choice" in out
    config = json.loads((tmp_path / "results.json").read_text())["config"]
    assert config["evidence"] == form and "scores_exact" not in config
    written = json.loads((tmp_path / "m.statements.json").read_text())
    evalset = evalset_from_args(argparse.Namespace(
        domain=None, seed=5, users=3, rounds=2, heldout=4, options=3,
        user_noise="deterministic", user_pool="all"))
    texts = np.array([written[str(u)] for u in range(3)], dtype=object)
    assert config["evidence_exact"] == list(evidence_agreement(
        evalset.domain, evalset.rounds, evalset.choices, texts, form))
    by_feature = evidence_agreement_by_feature(evalset.domain, evalset.rounds,
                                               evalset.choices, texts, form)
    assert config["evidence_exact_by_feature"] == {
        f.label: list(row) for f, row in zip(evalset.domain.features, by_feature, strict=True)}
    assert all(re.search(rf"^{re.escape(f.label)} +1\.000 ", out, re.M)  # round 0: none
               for f in evalset.domain.features)
    assert len(config["statements_exact"]["model"]) == 2


def test_adapter_names_the_run(tiny_dir, tmp_path, capsys):
    import peft

    model, _ = load_model(str(tiny_dir))
    lora = peft.get_peft_model(model, peft.LoraConfig(r=2, target_modules=["q_proj"]))
    lora.save_pretrained(tmp_path / "my-adapter")
    assert main(["evaluate", "--model", str(tiny_dir), "--adapter", str(tmp_path / "my-adapter"),
                 *SMALL, "--out", str(tmp_path / "out")]) == 0
    capsys.readouterr()
    _, summaries = load_results(tmp_path / "out" / "results.json")
    assert list(summaries) == ["my-adapter", "bayesian", "prior-majority"]


@pytest.mark.parametrize(("extra", "message"), [
    (["--model", "no-such-model"], "unknown model 'no-such-model'"),
    (["--adapter", "missing-adapter-dir"], "adapter directory"),
    (["--name", "bayesian"], "--name must not be 'bayesian'"),
    (["--interactions", "x.jsonl"], "go together"),
    (["--scores"], "--scores needs --mode belief or given"),
    (["--evidence"], "--evidence needs --mode belief or given"),
])
def test_bad_input_is_a_clear_error(tiny_dir, tmp_path, capsys, monkeypatch, extra, message):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    args = ["evaluate", "--model", str(tiny_dir), *SMALL, "--out", str(tmp_path), *extra]
    assert main(args) == 2
    assert message in capsys.readouterr().err
