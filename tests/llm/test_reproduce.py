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
    assert "| bayesian-taught |" in (tmp_path / "report.md").read_text()


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


@pytest.mark.slow
def test_the_smoke_scale_runs_on_the_embedded_model(tmp_path, capsys):
    """What the README's main command runs: the whole pipeline on SmolLM2-135M."""
    from bayesflight.cli import main

    assert main(["reproduce", "--scale", "smoke", "--out", str(tmp_path), "--no-progress"]) == 0
    assert "| bayesian-taught |" in capsys.readouterr().out
    results = json.loads((tmp_path / "results.json").read_text())
    assert set(results["domains"]) == {"flight", "hotel"}
