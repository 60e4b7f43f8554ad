"""--report-to: evaluate's curves, and reproduce's training runs and evaluation curves (per
seed and their mean), reach TensorBoard event files;
a tracker that is not installed is refused before any work."""

from __future__ import annotations

import importlib.util
import json

import pytest
from bayesflight.cli import main
from bayesflight.results import load_results
from tiny_models import make_tiny_model
from train_dialogues import tensorboard_scalars

needs_tensorboard = pytest.mark.skipif(importlib.util.find_spec("tensorboard") is None,
                                       reason="tensorboard is not installed")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return str(make_tiny_model(tmp_path_factory.mktemp("tiny") / "tiny"))


@needs_tensorboard
def test_evaluate_sends_the_curves_of_every_assistant(tiny, tmp_path, capsys):
    out = tmp_path / "eval"
    args = ["evaluate", "--model", tiny, "--users", "2", "--heldout", "3", "--rounds", "2",
            "--no-progress", "--out", str(out), "--report-to", "tensorboard"]
    assert main(args) == 0
    capsys.readouterr()
    _, summaries = load_results(out / "results.json")
    scalars = tensorboard_scalars(out / "runs" / "evaluate-flight-tiny")
    for name, summary in summaries.items():
        for key in ("heldout_accuracy", "agreement_with_bayesian", "kl_from_bayesian"):
            curve = scalars[f"eval/flight/{name}/{key}"]
            assert [s for s, _ in curve] == [0, 1, 2]
            assert [v for _, v in curve] == pytest.approx(summary[key], abs=1e-6)
        assert scalars[f"eval/flight/{name}/update_gain"] == [
            (2, pytest.approx(summary["update_gain"], abs=1e-6))]
    # A rerun into the same directory replaces the curves rather than doubling them.
    assert main([*args, "--resume"]) == 0
    capsys.readouterr()
    again = tensorboard_scalars(out / "runs" / "evaluate-flight-tiny")
    assert [s for s, _ in again["eval/flight/tiny/heldout_accuracy"]] == [0, 1, 2]


def _tracked_reproduction(tiny: str, tmp_path, *flags: str):
    """A smoke reproduce of the Bayesian variant on flights, tracked by TensorBoard: its
    output directory."""
    config = tmp_path / "scale.json"
    config.write_text(json.dumps({"variants": ["bayesian"], "domains": ["flight"]}))
    out = tmp_path / "reproduction"
    assert main(["reproduce", "--scale", "smoke", "--model", tiny, "--config", str(config),
                 *flags, "--out", str(out), "--report-to", "tensorboard",
                 "--no-progress"]) == 0
    return out


@needs_tensorboard
def test_reproduce_passes_report_to_to_its_training_runs(tiny, tmp_path, capsys):
    out = _tracked_reproduction(tiny, tmp_path)
    capsys.readouterr()
    model = out / "models" / "bayesian-taught"
    losses = [json.loads(line)["loss"] for line in open(model / "metrics.jsonl")]
    logged = tensorboard_scalars(model / "runs" / "bayesian-taught")["train/loss"]
    assert [s for s, _ in logged] == [1, 2]
    assert [v for _, v in logged] == pytest.approx(losses, rel=1e-6)
    # ... and the evaluation curves of every model it evaluated, as evaluate sends them.
    results = json.loads((out / "results.json").read_text())["domains"]["flight"]
    curves = tensorboard_scalars(out / "runs" / "evaluate-flight-seed-0")
    for name, tag in (("original", "original"), ("bayesian-taught", "bayesian-taught"),
                      ("bayesian assistant", "bayesian-assistant")):
        curve = curves[f"eval/flight/{tag}/heldout_accuracy"]
        assert [v for _, v in curve] == pytest.approx(results[name]["heldout_accuracy"])


@needs_tensorboard
def test_reproduce_over_seeds_sends_each_seeds_curves_and_their_mean(tiny, tmp_path, capsys):
    out = _tracked_reproduction(tiny, tmp_path, "--seeds", "0,1")
    capsys.readouterr()
    results = json.loads((out / "results.json").read_text())
    for run, summaries in (("seed-0", results["per_seed"]["0"]["flight"]),
                           ("seed-1", results["per_seed"]["1"]["flight"]),
                           ("mean", results["domains"]["flight"])):
        curves = tensorboard_scalars(out / "runs" / f"evaluate-flight-{run}")
        for name, tag in (("original", "original"), ("bayesian-taught", "bayesian-taught")):
            summary = summaries[name]
            curve = curves[f"eval/flight/{tag}/heldout_accuracy"]
            assert [s for s, _ in curve] == list(range(len(summary["heldout_accuracy"])))
            assert [v for _, v in curve] == pytest.approx(summary["heldout_accuracy"])
            assert curves[f"eval/flight/{tag}/update_gain"][0][1] == pytest.approx(
                summary["update_gain"])
    for seed in (0, 1):  # each seed's training run under a name of its own
        model = out / f"seed-{seed}" / "models" / "bayesian-taught"
        assert "train/loss" in tensorboard_scalars(model / "runs" / f"bayesian-taught-seed-{seed}")


def test_a_tracker_that_is_not_installed_is_refused_before_any_work(tmp_path, capsys,
                                                                      monkeypatch):
    import accelerate.utils

    monkeypatch.setattr(accelerate.utils, "is_wandb_available", lambda: False)  # installed or not
    out = tmp_path / "run"
    assert main(["train", "--data", str(tmp_path / "none.jsonl"), "--out", str(out),
                 "--report-to", "wandb"]) == 2
    assert 'pip install "bayesflight[wandb]"' in capsys.readouterr().err
    assert not out.exists()
