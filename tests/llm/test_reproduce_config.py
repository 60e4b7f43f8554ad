"""reproduce with any model and scale: --model, --config (YAML or JSON) and --time-budget."""

from __future__ import annotations

import dataclasses
import json

import pytest
from bayesflight.budget import Probe, plan
from bayesflight.cli import main
from bayesflight.reproduce import SCALES
from bayesflight.scale_config import read_config, scale_from_config
from tiny_models import make_tiny_model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return str(make_tiny_model(tmp_path_factory.mktemp("tiny") / "model"))


def test_a_config_changes_only_what_it_names(tmp_path):
    (tmp_path / "run.yaml").write_text(
        "model: some/hub-model\ntrain_dialogues: 64\ntrain: {lr: 3.0e-4}\n"
        "variants: [bayesian, bayesian-statements]\ndomains: [flight]\n")
    (tmp_path / "run.json").write_text(json.dumps(
        {"model": "some/hub-model", "train_dialogues": 64, "train": {"lr": 3e-4},
         "variants": ["bayesian", "bayesian-statements"], "domains": ["flight"]}))
    base = SCALES["cpu"]
    for name in ("run.yaml", "run.json"):
        scale = scale_from_config(base, read_config(tmp_path / name))
        assert scale.model == "some/hub-model" and scale.train_dialogues == 64
        assert scale.train == {**base.train, "lr": 3e-4}  # merged key by key
        assert scale.variants == ("bayesian", "bayesian-statements")
        assert scale.eval_users == base.eval_users


@pytest.mark.parametrize(("fields", "message"), [
    ({"train_dialogs": 5}, "unknown field"),
    ({"eval_users": 0}, "eval_users must be a positive integer"),
    ({"train_dialogues": True}, "train_dialogues must be a positive integer"),
    ({"variants": ["bayesian", "nope"]}, "variant 'nope'"),
    ({"domains": ["flights"]}, "domain must be one of"),
    ({"train": {"lr": -1}}, "train: lr"),
    ({"train": {"learning_rate_x": 1}}, "train: "),
    ({"train": {"data": "x.jsonl"}}, "set by reproduce itself"),
    # reproduce passes its own progress (--no-progress) to every run: one setting, one place
    ({"train": {"progress": False}}, "train.progress is set by reproduce itself; use "
                                     "--no-progress"),
    ({"train": {"seed": 3}}, "use --seed or --seeds"),
    # a curriculum for every variant would turn the mixture into one, unmatched in steps
    ({"train": {"stage_key": "domain"}}, "train.stage_key is set by reproduce itself"),
    ({"soft_weight": 2}, "soft_weight"),
])
def test_bad_config_fields_are_named(fields, message):
    with pytest.raises(ValueError, match=message):
        scale_from_config(SCALES["smoke"], fields)


def test_unreadable_config_files_are_one_line_errors(tmp_path, capsys):
    (tmp_path / "bad.json").write_text("{train_dialogues: 4")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    for name, message in (("bad.json", "not valid JSON"), ("list.yaml", "expected a mapping"),
                          ("missing.json", "no such file")):
        assert main(["reproduce", "--config", str(tmp_path / name), "--out",
                     str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1


def test_reproduce_with_a_config_and_a_model(tiny, tmp_path, capsys):
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps({"variants": ["bayesian-statements"], "domains": ["flight"],
                                  "train_dialogues": 2}))
    out = tmp_path / "run"
    assert main(["reproduce", "--config", str(config), "--model", tiny, "--out", str(out),
                 "--no-progress"]) == 0
    capsys.readouterr()
    results = json.loads((out / "results.json").read_text())
    assert results["model"] == tiny and set(results["domains"]) == {"flight"}
    assert list(results["domains"]["flight"]) == [
        "bayesian assistant", "original", "bayesian-taught (statements)"]
    first = json.loads(open(out / "data" / "bayesian-statements.jsonl").readline())
    assert first["messages"][1]["content"].startswith("So far: ")
    assert (out / "models" / "bayesian-statements-taught" / "adapter_config.json").is_file()
    said = out / "eval" / "flight" / "bayesian-statements.statements.json"
    assert len(json.loads(said.read_text())) == SCALES["smoke"].eval_users
    exact = results["domains"]["flight"]["bayesian-taught (statements)"]["statements_exact"]
    assert exact["most_common"][0] == 1.0 and len(exact["model"]) == SCALES["smoke"].eval_rounds


PROBE = Probe(device="cuda:0", load_seconds=5.0, train_tokens_per_s=100_000.0,
              eval_questions_per_s=500.0, tokens_per_dialogue=911.0)


def test_the_budget_sizes_training_and_keeps_the_evaluation():
    gpu = SCALES["gpu"]
    small, sizing = plan(gpu, 30, PROBE)
    large, _ = plan(gpu, 120, PROBE)
    assert large.train_dialogues > 4 * small.train_dialogues > 0
    assert small.train_dialogues % (gpu.train["batch_size"] * gpu.train["grad_accum"]) == 0
    assert sizing["train_dialogues"] == small.train_dialogues
    assert sizing["probe"]["train_tokens_per_s"] == 100_000.0
    expected = sizing["expected_seconds"]
    assert sum(expected.values()) <= 30 * 60 + 1  # the plan fits the budget it was given
    assert small.eval_users <= gpu.eval_users and "max_steps" not in small.train


def test_repeats_over_seeds_are_counted_in_the_estimate_and_the_budget():
    from bayesflight.estimate import estimate

    one, _ = plan(SCALES["gpu"], 60, PROBE)
    three, sizing = plan(SCALES["gpu"], 60, PROBE, seeds=3)
    assert 0 < three.train_dialogues < one.train_dialogues / 2 and sizing["seeds"] == 3
    cpu = SCALES["cpu"]
    assert estimate(cpu, "cpu", 2, seeds=3).seconds > 2.5 * estimate(cpu, "cpu", 2).seconds
    with pytest.raises(ValueError, match="seeds must be a positive integer"):
        plan(cpu, 60, PROBE, seeds=0)


def test_a_budget_too_small_is_refused_with_the_minimum():
    slow = dataclasses.replace(PROBE, train_tokens_per_s=200.0, eval_questions_per_s=1.0)
    with pytest.raises(ValueError, match=r"too small on cuda:0.*give at least \d+ minutes"):
        plan(SCALES["cpu"], 2, slow)
    with pytest.raises(ValueError, match="positive number of minutes"):
        plan(SCALES["cpu"], 0, PROBE)


def test_reproduce_within_a_time_budget_reports_how_it_was_sized(tiny, tmp_path, capsys):
    config = tmp_path / "one.json"
    config.write_text(json.dumps({"variants": ["bayesian"], "domains": ["flight"]}))
    out = tmp_path / "budget"
    args = ["reproduce", "--config", str(config), "--model", tiny, "--out", str(out),
            "--no-progress", "--device", "cpu"]
    assert main([*args, "--time-budget", "0.01"]) == 2
    assert "too small" in capsys.readouterr().err
    assert main([*args, "--time-budget", "0.75"]) == 0
    report = capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    sizing = results["sizing"]
    assert sizing["time_budget_minutes"] == 0.75 and sizing["train_dialogues"] >= 4
    data = out / "data" / "bayesian.jsonl"
    assert sum(1 for _ in open(data)) == sizing["train_dialogues"]
    assert "Sized to a 0.75-minute budget" in report
