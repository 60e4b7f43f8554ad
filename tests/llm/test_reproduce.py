"""The reproduce pipeline on a tiny model: every stage runs, results line up, reruns skip work,
and an interrupted evaluation resumes to the same numbers."""

from __future__ import annotations

import dataclasses
import json

import pytest
from bayesflight.reproduce import SCALES, Reproduction, write_docs
from tiny_models import make_tiny_model


@pytest.fixture(scope="module")
def tiny_scale(tmp_path_factory):
    model = make_tiny_model(tmp_path_factory.mktemp("tiny") / "model")
    return dataclasses.replace(SCALES["smoke"], name="tiny", model=str(model))


def _run(scale, out, **kw):
    return Reproduction(scale, out, progress=False, log=lambda _m: None, **kw).run()


@pytest.fixture(scope="module")
def finished(tiny_scale, tmp_path_factory):
    """A whole reproduction at the tiny scale: (output directory, results)."""
    out = tmp_path_factory.mktemp("reproduction")
    return out, _run(tiny_scale, out)


def test_every_stage_writes_its_result(tiny_scale, finished):
    tmp_path, results = finished
    assert set(results) == {"flight", "hotel"}
    names = ["bayesian assistant", "original", "bayesian-taught", "oracle-taught",
             "bayesian-taught (soft)"]
    for summaries in results.values():
        assert list(summaries) == names
        for summary in summaries.values():
            assert len(summary["heldout_accuracy"]) == tiny_scale.eval_rounds + 1
        assert summaries["bayesian assistant"]["agreement_with_bayesian"] == [1.0] * (
            tiny_scale.eval_rounds + 1)
    for teacher in ("bayesian", "oracle"):
        assert sum(1 for _ in open(tmp_path / "data" / f"{teacher}.jsonl")) == (
            tiny_scale.train_dialogues)
    for variant in tiny_scale.variants:
        assert (tmp_path / "models" / f"{variant}-taught" / "adapter_config.json").is_file()
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["domains"] == json.loads(json.dumps(results))
    assert (tmp_path / "figure.png").stat().st_size > 0
    report = (tmp_path / "report.md").read_text()
    assert "| bayesian-taught |" in report and report.startswith("Pipeline check with a single")


def test_both_teachers_see_the_same_users_and_options(tiny_scale, tmp_path):
    Reproduction(tiny_scale, tmp_path, progress=False, log=lambda _m: None).generate()
    bayesian, oracle = ([json.loads(line) for line in open(tmp_path / "data" / f"{t}.jsonl")]
                        for t in ("bayesian", "oracle"))
    for b, o in zip(bayesian, oracle, strict=True):
        assert b["user_id"] == o["user_id"] and b["choices"] == o["choices"]
        assert b["messages"][0] == o["messages"][0]


def test_a_rerun_skips_finished_stages_and_a_lost_evaluation_is_redone(tiny_scale, tmp_path):
    first = _run(tiny_scale, tmp_path)
    spent = json.loads((tmp_path / "results.json").read_text())["seconds"]
    assert set(spent) == {"generate", "train", "evaluate"}
    lost = tmp_path / "eval" / "hotel" / "oracle.summary.json"
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "eval").rglob("*.summary.json")}
    lost.unlink()
    second = _run(tiny_scale, tmp_path)
    assert second == first
    assert lost.exists()
    # The rerun adds its own work to the stage times; it does not forget the first run's.
    again = json.loads((tmp_path / "results.json").read_text())["seconds"]
    assert again["generate"] == spent["generate"]
    assert again["train"] >= spent["train"] and again["evaluate"] >= spent["evaluate"]
    for path, stamp in stamps.items():
        if path != lost:
            assert path.stat().st_mtime_ns == stamp  # not evaluated again


def test_another_scale_or_seed_in_the_same_directory_is_refused(tiny_scale, finished):
    other = dataclasses.replace(tiny_scale, train_dialogues=tiny_scale.train_dialogues + 1)
    for scale, seed in ((other, 0), (tiny_scale, 1)):
        with pytest.raises(ValueError, match="another scale or seed"):
            _run(scale, finished[0], seed=seed)


def test_docs_section_is_replaced_not_repeated(tiny_scale, finished, tmp_path):
    out = finished[0]
    docs = tmp_path / "docs" / "results.md"
    docs.parent.mkdir()
    docs.write_text("# Results\n\nintro\n")
    write_docs(out, docs, tiny_scale)
    write_docs(out, docs, tiny_scale)
    text = docs.read_text()
    assert text.startswith("# Results\n\nintro\n")
    assert text.count("<!-- reproduce:tiny -->") == 1
    assert (tmp_path / "docs" / "figures" / "reproduce_tiny.png").is_file()


def _repeat(model, out):
    """``reproduce --scale smoke --seeds 0,1`` on the tiny model, two variants on flights only
    (a short run: twice the training of one seed)."""
    from bayesflight.cli import main

    config = out.parent / f"{out.name}.json"
    config.write_text(json.dumps({"variants": ["bayesian", "oracle"], "domains": ["flight"]}))
    return main(["reproduce", "--scale", "smoke", "--model", model, "--config", str(config),
                 "--seeds", "0,1", "--out", str(out), "--no-progress", "--device", "cpu"])


@pytest.fixture(scope="module")
def repeated(tiny_scale, tmp_path_factory):
    """The tiny model repeated over seeds 0 and 1: (output directory, results.json)."""
    out = tmp_path_factory.mktemp("repeated") / "run"
    assert _repeat(tiny_scale.model, out) == 0
    return out, json.loads((out / "results.json").read_text())


def test_repeats_report_each_seed_and_the_mean_over_seeds(tiny_scale, finished, repeated):
    out, saved = repeated
    assert saved["seeds"] == [0, 1] and saved["evaluation_seed"] == 0
    assert set(saved["per_seed"]) == {"0", "1"}
    # Seed 0 is the single-seed run of seed 0: its data, its training, its evaluation set.
    single = json.loads(json.dumps(finished[1]))["flight"]
    assert saved["per_seed"]["0"]["flight"] == {name: single[name] for name in (
        "bayesian assistant", "original", "bayesian-taught", "oracle-taught")}
    for domain, summaries in saved["domains"].items():
        seeds = [saved["per_seed"][s][domain] for s in ("0", "1")]
        for name in ("bayesian assistant", "original"):  # evaluated once
            assert summaries[name] == seeds[0][name] == seeds[1][name]
            assert "n_seeds" not in summaries[name]
        for name in ("bayesian-taught", "oracle-taught"):
            mean = summaries[name]
            assert mean["n_seeds"] == 2 and mean["n_users"] == seeds[1][name]["n_users"]
            assert mean["heldout_accuracy_per_seed"] == [s[name]["heldout_accuracy"]
                                                         for s in seeds]
            assert mean["heldout_accuracy"] == pytest.approx(
                [(a + b) / 2 for a, b in zip(*mean["heldout_accuracy_per_seed"], strict=True)])
            assert mean["update_gain"] == pytest.approx(
                sum(s[name]["update_gain"] for s in seeds) / 2)
            for key in ("heldout_accuracy_seeds_ci95", "update_gain_seeds_ci95"):
                assert mean[key] is not None
            for (lo, hi), a in zip(mean["heldout_accuracy_seeds_ci95"],
                                   mean["heldout_accuracy"], strict=True):
                assert lo <= a + 1e-9 and a <= hi + 1e-9
    for teacher in ("bayesian", "oracle"):  # each seed its own teaching data
        assert ((out / "seed-0" / "data" / f"{teacher}.jsonl").read_text()
                != (out / "seed-1" / "data" / f"{teacher}.jsonl").read_text())
    assert (out / "seed-1" / "models" / "oracle-taught" / "adapter_config.json").is_file()
    assert (out / "eval" / "flight" / "original.summary.json").is_file()
    assert not (out / "seed-1" / "eval" / "flight" / "original.summary.json").exists()
    report = (out / "report.md").read_text()
    assert "Across 2 seeds (0, 1)" in report and "CI over seeds" in report
    assert "update gain (round 1 − round 0)" in report
    assert (out / "figure.png").stat().st_size > 0


def test_a_rerun_of_repeats_redoes_nothing(tiny_scale, repeated, capsys):
    out, saved = repeated
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.summary.json")}
    assert _repeat(tiny_scale.model, out) == 0
    capsys.readouterr()
    assert json.loads((out / "results.json").read_text())["domains"] == saved["domains"]
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.summary.json")} == stamps


def test_seed_with_seeds_is_refused(tiny_scale, tmp_path, capsys):
    from bayesflight.cli import main

    for extra, message in ((["--seed", "0", "--seeds", "0,1"], "give --seed or --seeds"),
                           (["--seeds", "0,0"], "must not repeat a seed")):
        assert main(["reproduce", "--model", tiny_scale.model, "--out", str(tmp_path / "r"),
                     "--no-progress", *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "r").exists()
    with pytest.raises(ValueError, match="seed or seeds, not both"):
        Reproduction(tiny_scale, tmp_path, seed=1, seeds=(0, 1))


@pytest.mark.slow
def test_the_smoke_scale_runs_on_the_embedded_model(tmp_path, capsys):
    """What the README's main command runs: the whole pipeline on SmolLM2-135M."""
    from bayesflight.cli import main

    assert main(["reproduce", "--scale", "smoke", "--out", str(tmp_path), "--no-progress"]) == 0
    assert "| bayesian-taught |" in capsys.readouterr().out
    results = json.loads((tmp_path / "results.json").read_text())
    assert set(results["domains"]) == {"flight", "hotel"}
