"""The paper's figure: held-out accuracy against rounds of interaction, one line per assistant."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .fileio import atomic_open

# Every figure says what its shading is.
BAND_NOTE = "shaded: 95% CI over users"
# ... and what the thin lines of a repeated run are.
SEEDS_NOTE = "thin lines: each seed's model, bold: their mean"
# A band this wide (of the 0-1 accuracy axis) or wider says nothing: a single user's interval
# is all of [0, 1]. It is not drawn, so that it does not cover the lines.
UNINFORMATIVE_BAND = 0.9


def plot_accuracy(
    summaries: dict[str, dict[str, Any]], path: str | os.PathLike, title: str = ""
) -> None:
    """Write a PNG of each assistant's held-out accuracy by rounds completed, with its 95% CI
    band (Agg canvas: no display, no global pyplot state)."""
    plot_panels({title: summaries}, path)


def plot_panels(panels: dict[str, dict[str, dict[str, Any]]], path: str | os.PathLike) -> None:
    """Like :func:`plot_accuracy`, one panel per entry of ``panels`` (title -> summaries), side
    by side with a shared legend: the paper's figure for several domains."""
    fig = accuracy_figure(panels)
    with atomic_open(path, "wb") as handle:
        fig.savefig(handle, format="png")


def accuracy_figure(panels: dict[str, dict[str, dict[str, Any]]]) -> Figure:
    """The figure of :func:`plot_panels`. Bands are drawn only over rounds where they are
    narrower than UNINFORMATIVE_BAND; a note under the plot says what they are, and a run with
    a single user is titled a pipeline check, whose curves estimate nothing. A summary over
    seeds (``heldout_accuracy_per_seed``) is drawn bold with a thin line per seed."""
    if not panels or not all(panels.values()):
        raise ValueError("panels must hold at least one panel, each naming an assistant")
    fig = Figure(figsize=(4.2 * len(panels) + 2.4, 4.2), dpi=120)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(panels), squeeze=False, sharey=True)[0]
    colours: dict[str, Any] = {}
    hidden = seeds = False
    for ax, (title, summaries) in zip(axes, panels.items(), strict=True):
        for name, summary in summaries.items():
            accuracy = np.asarray(summary["heldout_accuracy"])
            band = np.asarray(summary["heldout_accuracy_ci95"])
            rounds = np.arange(len(accuracy))
            per_seed = summary.get("heldout_accuracy_per_seed") or []
            (line,) = ax.plot(rounds, accuracy, marker="o", markersize=4, label=name,
                              color=colours.get(name), linewidth=2.2 if per_seed else 1.5)
            colours[name] = line.get_color()
            for curve in per_seed:
                ax.plot(rounds, curve, color=colours[name], linewidth=0.8, alpha=0.5)
            seeds |= len(per_seed) > 1
            shown = band[:, 1] - band[:, 0] < UNINFORMATIVE_BAND
            hidden |= not shown.all()
            if shown.any():
                ax.fill_between(rounds, band[:, 0], band[:, 1], where=shown,
                                color=colours[name], alpha=0.2, linewidth=0)
        ax.set_xlabel("rounds of interaction")
        ax.set_xticks(np.arange(max(len(s["heldout_accuracy"]) for s in summaries.values())))
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        if title:
            ax.set_title(title)
    axes[0].set_ylabel("held-out accuracy")
    handles, labels = [], []
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if label not in labels:
                handles.append(handle)
                labels.append(label)
    axes[-1].legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                    fontsize="small", frameon=False)
    single_user = any(s.get("n_users") == 1 for ss in panels.values() for s in ss.values())
    note = BAND_NOTE
    if hidden:
        note += f" (not drawn where wider than {UNINFORMATIVE_BAND:g})"
    if seeds:
        note += f"; {SEEDS_NOTE}"
    fig.text(0.01, 0.01, note, fontsize="small", color="0.35", ha="left", va="bottom")
    top = 1.0
    if single_user:
        fig.suptitle("pipeline check with a single user: no confidence bands, not a result",
                     fontsize="medium")
        top = 0.93
    fig.tight_layout(rect=(0, 0.05, 1, top))
    return fig
