"""The command line's promises: Ctrl-C and user errors end in one line, never a traceback."""

from __future__ import annotations

import pytest
from bayesflight.cli import main
from bayesflight.reproduce import Reproduction


def _interrupt(*_args, **_kwargs):
    raise KeyboardInterrupt


def _lines(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


def test_ctrl_c_in_simulate_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("bayesflight.commands.simulate.run_assistant", _interrupt)
    assert main(["simulate", "--users", "3", "--out", str(tmp_path), "--no-progress"]) == 130
    assert _lines(capsys) == ["bayesflight simulate: interrupted; no file was left "
                              "half-written; rerun the command to start again"]


def test_ctrl_c_in_reproduce_says_what_was_kept_and_how_to_go_on(tmp_path, monkeypatch,
                                                                  capsys):
    pytest.importorskip("torch", reason="reproduce needs the llm extra")
    monkeypatch.setattr(Reproduction, "run", _interrupt)
    assert main(["reproduce", "--out", str(tmp_path), "--no-progress"]) == 130
    lines = _lines(capsys)
    assert lines[0].startswith("reproduce --scale smoke: about")  # the estimate
    assert lines[1:] == [f"bayesflight reproduce: interrupted; finished stages, training "
                         f"checkpoints and evaluated users are kept in {tmp_path}; rerun the "
                         f"same command to continue"]


@pytest.mark.parametrize("kept", [False, True])
def test_ctrl_c_in_evaluate_points_at_the_transcript(tmp_path, monkeypatch, capsys, kept):
    pytest.importorskip("torch", reason="evaluate needs the llm extra")
    import bayesflight.llm.evaluation as evaluation

    (tmp_path / "m").mkdir()  # a local model directory: its name passes the early check
    if kept:
        (tmp_path / "m.transcript.npz").write_bytes(b"")
    monkeypatch.setattr(evaluation, "evaluate_llm", _interrupt)
    assert main(["evaluate", "--model", str(tmp_path / "m"), "--out", str(tmp_path),
                 "--no-progress"]) == 130
    (line,) = _lines(capsys)
    assert ("rerun with --resume" in line) == kept


def test_an_output_path_that_is_a_file_is_one_line(tmp_path, capsys):
    (tmp_path / "taken").write_text("x")
    assert main(["simulate", "--users", "3", "--rounds", "1", "--heldout", "2", "--out",
                 str(tmp_path / "taken"), "--no-progress"]) == 2
    assert _lines(capsys)[-1] == (f"bayesflight simulate: error: {tmp_path / 'taken'}: file "
                                  f"exists")
