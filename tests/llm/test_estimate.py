"""The reproduction's time estimate, and the refusal of a scale this device would take days on."""

from __future__ import annotations

import pytest
from bayesflight.cli import main
from bayesflight.estimate import ABSURD_S, check_feasible, estimate, format_duration
from bayesflight.reproduce import SCALES, Reproduction


def test_the_cpu_scale_estimate_is_close_to_its_measured_time():
    # docs/results.md: 6,902 s on 2 idle cores; smoke 34 to 38 s.
    assert 0.8 * 6902 < estimate(SCALES["cpu"], "cpu", cores=2).seconds < 1.25 * 6902
    assert estimate(SCALES["smoke"], "cpu", cores=2).seconds < 120


def test_the_gpu_scale_is_absurd_on_cpus_and_fine_on_a_gpu():
    for cores in (1, 2, 16):
        assert estimate(SCALES["gpu"], "cpu", cores=cores).seconds > ABSURD_S
    assert estimate(SCALES["gpu"], "cuda").seconds < ABSURD_S
    with pytest.raises(ValueError, match=r"--scale gpu would take about \d+ h on cpu \(2 "
                                         r"cores, otherwise idle\).*pass --force"):
        check_feasible(SCALES["gpu"], "cpu", cores=2)
    assert check_feasible(SCALES["gpu"], "cpu", force=True, cores=2).seconds > ABSURD_S


def test_reproduce_gpu_on_a_cpu_is_refused_in_one_line_before_starting(tmp_path, monkeypatch,
                                                                       capsys):
    started = []
    monkeypatch.setattr(Reproduction, "run", lambda self: started.append(self))
    assert main(["reproduce", "--scale", "gpu", "--device", "cpu",  # on a GPU machine too
                 "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("bayesflight reproduce: error: --scale gpu "
                                               "would take about")
    assert "--force" in err[0] and not started and not (tmp_path / "run").exists()


@pytest.mark.parametrize(("seconds", "text"), [(38, "38 s"), (7080, "1 h 58 min"),
                                               (600, "10 min"), (644_400, "179 h")])
def test_durations_read_naturally(seconds, text):
    assert format_duration(seconds) == text


def test_another_model_makes_the_estimate_a_lower_bound():
    import dataclasses

    other = dataclasses.replace(SCALES["cpu"], model="Qwen/Qwen2.5-0.5B-Instruct")
    assert estimate(SCALES["cpu"], "cpu", cores=2).describe().startswith("about ")
    assert estimate(other, "cpu", cores=2).describe().startswith(
        "at least (rates of the 135M model) ")
