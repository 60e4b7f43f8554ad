"""The curriculum levers on a tiny model: a mixture of flight-2, flight-3 and flight dialogues,
and the same dialogues taught stage by stage; and the prepared configs in docs/configs."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from bayesflight.cli import main
from bayesflight.reproduce import SCALES, Reproduction
from bayesflight.scale_config import read_config, scale_from_config
from bayesflight.variants import VARIANTS
from tiny_models import make_tiny_model

CONFIGS = Path(__file__).resolve().parents[2] / "docs" / "configs"
LEVERS = ["bayesian-mixture", "bayesian-curriculum"]


@pytest.fixture(scope="module")
def levers(tmp_path_factory):
    """A tiny reproduction of the two levers on flights: (scale, output directory, results).
    7 dialogues make parts of 2, 2 and 3; batches of 2 make 4 steps for either variant."""
    model = make_tiny_model(tmp_path_factory.mktemp("tiny") / "model")
    smoke = SCALES["smoke"]
    train = {k: v for k, v in smoke.train.items() if k != "max_steps"} | {"batch_size": 2}
    scale = dataclasses.replace(smoke, name="tiny-levers", model=str(model), train_dialogues=7,
                                train=train, variants=tuple(LEVERS), domains=("flight",))
    out = tmp_path_factory.mktemp("levers")
    results = Reproduction(scale, out, progress=False, log=lambda _m: None).run()
    return scale, out, results


def test_the_mixture_file_holds_its_domain_parts_in_order(levers):
    _, out, _ = levers
    lines = [json.loads(line) for line in open(out / "data" / "bayesian-mixture.jsonl")]
    assert [r["domain"] for r in lines] == ["flight-2"] * 2 + ["flight-3"] * 2 + ["flight"] * 3
    assert {r["teacher"] for r in lines} == {"bayesian"}
    parts = json.loads((out / "data" / "bayesian-mixture.parts.json").read_text())
    assert [(p["domain"], p["dialogues"], p["first_line"], p["last_line"])
            for p in parts["parts"]] == [("flight-2", 2, 1, 2), ("flight-3", 2, 3, 4),
                                         ("flight", 3, 5, 7)]
    visible = (p.name for p in (out / "data").iterdir() if not p.name.startswith("."))
    assert sorted(visible) == [  # one file for both levers (and its hidden token cache)
        "bayesian-mixture.jsonl", "bayesian-mixture.parts.json"]


def test_the_curriculum_reaches_the_trainer_in_stage_order_with_the_mixtures_budget(levers):
    _, out, _ = levers
    models = out / "models"
    mixture, curriculum = (json.loads((models / f"{v}-taught" / "train_config.json").read_text())
                           for v in LEVERS)
    assert mixture["stage_key"] is None and curriculum["stage_key"] == "domain"
    assert mixture["data"] == curriculum["data"]
    steps = {v: [json.loads(line) for line in
                 (models / f"{v}-taught" / "metrics.jsonl").read_text().splitlines()]
             for v in LEVERS}
    assert len(steps["bayesian-mixture"]) == len(steps["bayesian-curriculum"]) == 4
    assert [r["stage"] for r in steps["bayesian-curriculum"]] == [
        "flight-2", "flight-3", "flight", "flight"]
    assert "stage" not in steps["bayesian-mixture"][0]


def test_results_and_report_name_the_levers(levers):
    _, out, results = levers
    labels = ["bayesian-taught (mixture)", "bayesian-taught (curriculum)"]
    assert list(results["flight"]) == ["bayesian assistant", "original", *labels]
    saved = json.loads((out / "results.json").read_text())
    assert list(saved["domains"]["flight"])[2:] == labels
    report = (out / "report.md").read_text()
    assert all(f"| {name} |" in report for name in labels)


def test_a_mixture_needs_a_dialogue_per_part(levers):
    scale, out, _ = levers
    with pytest.raises(ValueError, match="train_dialogues must be at least 3 for the "
                                         "'bayesian-mixture' teaching"):
        Reproduction(dataclasses.replace(scale, train_dialogues=2), out / "small")


def test_help_names_every_variant(capsys):
    with pytest.raises(SystemExit):
        main(["reproduce", "--help"])
    text = "".join(capsys.readouterr().out.split())  # help wraps lines at hyphens too
    assert all(name in text for name in VARIANTS)
    readme = (CONFIGS.parents[1] / "README.md").read_text(encoding="utf-8")
    assert all(f"`{name}`" in readme for name in VARIANTS)


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_the_prepared_configs_load(path):
    scale = scale_from_config(SCALES["gpu"], read_config(path), str(path))
    assert scale.train["full"] and scale.model == SCALES["gpu"].model
    assert scale.domains == ("flight",)


def test_the_prepared_configs_are_the_documented_ones():
    assert sorted(p.name for p in CONFIGS.glob("*.yaml")) == [
        "budget-2k.yaml", "budget-32k.yaml", "budget-8k.yaml", "levers.yaml"]
    levers = read_config(CONFIGS / "levers.yaml")
    assert levers["variants"] == ["bayesian", "oracle", "bayesian-statements", *LEVERS]
    for size in (2, 8, 32):
        budget = read_config(CONFIGS / f"budget-{size}k.yaml")
        assert budget["train_dialogues"] == size * 1024
        assert budget["variants"] == ["bayesian", "oracle", "bayesian-statements"]
