"""The accuracy figure: bands only where they say something, and a note on what they are."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bayesflight.plotting import BAND_NOTE, SEEDS_NOTE, accuracy_figure, plot_panels
from matplotlib.text import Text


def summary(accuracy: list[float], bands: list[list[float]], n_users: int) -> dict[str, Any]:
    return {"heldout_accuracy": accuracy, "heldout_accuracy_ci95": bands, "n_users": n_users}


ONE_USER = {"bayesian": summary([0.3, 0.6, 1.0], [[0.0, 1.0]] * 3, 1),
            "random": summary([0.3, 0.3, 0.6], [[0.0, 1.0]] * 3, 1)}
MANY_USERS = {"bayesian": summary([0.4, 0.6, 0.8], [[0.38, 0.42], [0.55, 0.65], [0.75, 0.85]],
                                  624),
              "random": summary([0.33, 0.33, 0.34], [[0.3, 0.36]] * 3, 624)}


def texts(fig: Any) -> str:
    """Every text in the figure: titles, notes, labels."""
    return " | ".join(t.get_text() for t in fig.findobj(Text))


def test_a_single_user_run_draws_no_band_and_says_it_is_a_pipeline_check() -> None:
    fig = accuracy_figure({"flight (taught)": ONE_USER, "hotel (transfer)": ONE_USER})
    assert all(len(ax.collections) == 0 for ax in fig.axes)  # no 0-1 block over the lines
    assert "pipeline check with a single user" in texts(fig)
    assert BAND_NOTE in texts(fig)


def test_a_run_over_seeds_draws_each_seed_thin_under_the_bold_mean() -> None:
    over_seeds = MANY_USERS["bayesian"] | {
        "heldout_accuracy_per_seed": [[0.35, 0.55, 0.75], [0.45, 0.65, 0.85]]}
    fig = accuracy_figure({"flight": {"bayesian": over_seeds, "random": MANY_USERS["random"]}})
    lines = fig.axes[0].get_lines()
    assert len(lines) == 4  # the mean and two seeds, and the assistant evaluated once
    mean, *seeds = (line for line in lines if line.get_color() == lines[0].get_color())
    assert [list(s.get_ydata()) for s in seeds] == over_seeds["heldout_accuracy_per_seed"]
    assert all(mean.get_linewidth() > s.get_linewidth() for s in seeds)
    assert SEEDS_NOTE in texts(fig) and BAND_NOTE in texts(fig)
    assert SEEDS_NOTE not in texts(accuracy_figure({"flight": MANY_USERS}))


def test_many_users_get_their_bands_and_the_note() -> None:
    fig = accuracy_figure({"flight": MANY_USERS})
    assert len(fig.axes[0].collections) == 2
    assert BAND_NOTE in texts(fig) and "pipeline check" not in texts(fig)
    assert "not drawn" not in texts(fig)


def test_a_band_is_left_out_only_where_it_spans_nearly_everything() -> None:
    wide_first = {"bayesian": summary([0.5, 0.6, 0.7], [[0.02, 0.98], [0.5, 0.7], [0.6, 0.8]],
                                      3)}
    fig = accuracy_figure({"flight": wide_first})
    assert len(fig.axes[0].collections) == 1  # rounds 1 to 2 still shaded
    assert "not drawn where wider than 0.9" in texts(fig)


def test_plot_panels_writes_a_png(tmp_path: Path) -> None:
    plot_panels({"flight": MANY_USERS}, tmp_path / "figure.png")
    assert (tmp_path / "figure.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
