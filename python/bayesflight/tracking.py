"""Experiment tracking: training metrics and evaluation curves sent to TensorBoard, trackio or
Weights & Biases, through accelerate's trackers (those of ``Accelerator(log_with=...)``).

Each backend is an optional extra (``pip install "bayesflight[tensorboard]"``, ``[trackio]``,
``[wandb]``). TensorBoard writes event files into the output directory (``OUT/runs/RUN``, RUN
the run's name) and needs no network; trackio keeps its runs in a local database (``trackio
show`` opens it); wandb works offline with ``WANDB_MODE=offline``. The project is
``bayesflight`` unless ``WANDB_PROJECT`` or ``TRACKIO_PROJECT`` says otherwise. The JSON
files a run writes (``metrics.jsonl``, ``results.json``) do not depend on any of this.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

REPORT_TO = ("none", "tensorboard", "trackio", "wandb")
LOG_DIR = "runs"  # TensorBoard's event files go to OUT/runs/RUN
# The per-round lists of a results.json summary (bayesflight.metrics.summarise).
CURVES = ("heldout_accuracy", "interaction_accuracy", "agreement_with_bayesian",
          "kl_from_bayesian")


def check_available(report_to: str) -> None:
    """Raise ValueError, naming the extra to install, if ``report_to``'s package is missing:
    before a run loads anything."""
    if report_to not in REPORT_TO:
        raise ValueError(f"report_to must be one of {REPORT_TO}, got {report_to!r}")
    if report_to == "none":
        return
    from accelerate.utils import is_tensorboard_available, is_trackio_available, is_wandb_available

    available = {"tensorboard": is_tensorboard_available, "trackio": is_trackio_available,
                 "wandb": is_wandb_available}[report_to]
    if not available():
        raise ValueError(f"--report-to {report_to} needs the {report_to} package: "
                         f'pip install "bayesflight[{report_to}]"')


class Tracker:
    """One accelerate tracker, started; ``log`` numbers at a step, ``finish`` at the end.

    Create it in the main process only. accelerate's trackers need its process state
    (``PartialState``); under torchrun it finds the process group the trainer started.
    """

    def __init__(self, report_to: str, out: str | os.PathLike, run_name: str,
                 purge_from: int | None = None) -> None:
        from accelerate import PartialState, tracking

        check_available(report_to)
        PartialState()
        self.report_to = report_to
        if report_to == "tensorboard":
            # purge_step drops the events a killed run wrote after the step it resumes from.
            kwargs = {} if purge_from is None else {"purge_step": purge_from}
            self.tracker = tracking.TensorBoardTracker(run_name, Path(out) / LOG_DIR, **kwargs)
        elif report_to == "trackio":
            self.tracker = tracking.TrackioTracker(
                os.environ.get("TRACKIO_PROJECT", "bayesflight"), name=run_name)
        else:
            self.tracker = tracking.WandBTracker(
                os.environ.get("WANDB_PROJECT", "bayesflight"), name=run_name, dir=str(out))
        self.tracker.start()

    @property
    def logging_dir(self) -> Path | None:
        """Where the TensorBoard event files go (None for the other backends)."""
        return Path(self.tracker.logging_dir) if self.report_to == "tensorboard" else None

    def store_config(self, config: dict[str, Any]) -> None:
        """The run's settings as hyperparameters (None values left out: TensorBoard's
        hyperparameters are numbers, strings or booleans)."""
        self.tracker.store_init_configuration(
            {k: v for k, v in config.items() if isinstance(v, (bool, int, float, str))})

    def log(self, values: dict[str, float], step: int) -> None:
        self.tracker.log(values, step=step)

    def finish(self) -> None:
        self.tracker.finish()


def open_tracker(report_to: str, out: str | os.PathLike, run_name: str | None = None,
                 config: dict[str, Any] | None = None,
                 purge_from: int | None = None) -> Tracker | None:
    """A started tracker for ``report_to`` (None for ``none``) with ``config`` stored; the run
    is named ``run_name`` or after the output directory."""
    if report_to == "none":
        return None
    tracker = Tracker(report_to, out, run_name or Path(out).resolve().name, purge_from)
    if config:
        tracker.store_config(config)
    return tracker


def training_values(record: dict[str, Any]) -> dict[str, float]:
    """A metrics.jsonl line as tracker values, under ``train/`` (the step is the x axis)."""
    return {f"train/{k}": v for k, v in record.items()
            if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool)}


def log_curves(tracker: Tracker, summaries: dict[str, dict[str, Any]], prefix: str) -> None:
    """Evaluation summaries (``{assistant: summary}``) as curves over the rounds: step r holds
    ``PREFIX/ASSISTANT/heldout_accuracy`` and the other per-round scores after r rounds; the
    update gain is logged at the last round."""
    rounds = {len(s["heldout_accuracy"]) for s in summaries.values()}
    if len(rounds) != 1:
        raise ValueError("the summaries cover different numbers of rounds")
    n = rounds.pop()
    for r in range(n):
        values = {f"{prefix}/{name}/{key}": float(s[key][r])
                  for name, s in summaries.items() for key in CURVES
                  if key in s and r < len(s[key])}
        if r == n - 1:
            values |= {f"{prefix}/{name}/update_gain": float(s["update_gain"])
                       for name, s in summaries.items() if "update_gain" in s}
        tracker.log(values, step=r)


def report_evaluation(report_to: str, out: str | os.PathLike, run_name: str,
                      summaries: dict[str, dict[str, Any]], prefix: str = "eval",
                      config: dict[str, Any] | None = None) -> None:
    """Send evaluation curves to a tracker of their own; nothing for ``none``. A rerun into
    the same TensorBoard directory replaces the curves instead of doubling them."""
    tracker = open_tracker(report_to, out, run_name, config, purge_from=0)
    if tracker is not None:
        log_curves(tracker, summaries, prefix)
        tracker.finish()
