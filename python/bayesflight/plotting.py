"""The paper's figure: held-out accuracy against rounds of interaction, one line per assistant."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .fileio import atomic_open


def plot_accuracy(
    summaries: dict[str, dict[str, Any]], path: str | os.PathLike, title: str = ""
) -> None:
    """Write a PNG of each assistant's held-out accuracy by rounds completed, with its 95% CI
    band (Agg canvas: no display, no global pyplot state)."""
    if not summaries:
        raise ValueError("summaries must name at least one assistant")
    fig = Figure(figsize=(7.2, 4.2), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for name, summary in summaries.items():
        accuracy = np.asarray(summary["heldout_accuracy"])
        band = np.asarray(summary["heldout_accuracy_ci95"])
        rounds = np.arange(len(accuracy))
        (line,) = ax.plot(rounds, accuracy, marker="o", markersize=4, label=name)
        ax.fill_between(rounds, band[:, 0], band[:, 1], color=line.get_color(), alpha=0.2,
                        linewidth=0)
    ax.set_xlabel("rounds of interaction")
    ax.set_ylabel("held-out accuracy")
    ax.set_ylim(0, 1.02)
    ax.set_xticks(np.arange(max(len(s["heldout_accuracy"]) for s in summaries.values())))
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    with atomic_open(path, "wb") as handle:
        fig.savefig(handle, format="png")
