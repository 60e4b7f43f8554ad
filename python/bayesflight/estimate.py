"""How long a reproduction will take on this machine, before it starts: a scale sized for a GPU
run on a CPU would take days, and should be refused with the estimate instead of begun.

The estimate is deliberately simple: the scale's training tokens at a tokens/s rate and its
evaluation questions at a questions/s rate for the kind of device, plus a few seconds per
model load. The CPU rates were measured on 2 idle cores (the cpu scale: 276 to 343 training
tokens/s, about 5 evaluation questions/s; 1 h 55 min in all, estimated 1 h 58 min) and are
scaled linearly with the cores, which flatters machines with many cores: a refusal is then
certain to be right. The GPU rates are a cautious guess for one H100. All rates are for the
default 135M model; for a larger one (``reproduce --model``) the estimate is a lower bound.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

MEASURED_MODEL = "smollm2-135m"  # the model the rates were measured with
# Tokens of a teaching dialogue in SmolLM2's chat template: 911 on average for 5 rounds.
TOKENS_BASE, TOKENS_PER_ROUND = 60, 170
# (training tokens/s, evaluation questions/s, seconds per model load); CPU rates per core.
RATES: dict[str, tuple[float, float, float]] = {
    "cpu": (150.0, 2.5, 2.0),
    "cuda": (20_000.0, 200.0, 5.0),
}
FULL_FINE_TUNING_COST = 1.5  # weight gradients and AdamW over every weight, not LoRA's few
ABSURD_S = 12 * 3600.0  # a run estimated longer than this is refused unless forced


@dataclass(frozen=True)
class Estimate:
    """What a reproduction will cost on one kind of device."""

    seconds: float
    device: str  # e.g. "cpu (2 cores)" or "cuda"
    train_tokens: int
    eval_questions: int
    default_model: bool = True  # the rates' 135M model; another makes this a lower bound

    def describe(self) -> str:
        bound = "about" if self.default_model else "at least (rates of the 135M model)"
        return (f"{bound} {format_duration(self.seconds)} on {self.device} "
                f"({self.train_tokens:,} training tokens, {self.eval_questions:,} "
                f"evaluation questions)")


def format_duration(seconds: float) -> str:
    """``38 s``, ``1 h 58 min`` or ``171 h``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours < 10 else f"{hours + (minutes >= 30)} h"


def cpu_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def estimate(scale: Any, device_kind: str, cores: int = 1, seeds: int = 1) -> Estimate:
    """The time ``scale`` (a ``bayesflight.reproduce.Scale``) takes on ``device_kind``
    (``cpu``, with ``cores``, or ``cuda``), its taught models trained and evaluated once per
    seed of ``seeds``."""
    if device_kind not in RATES:
        raise ValueError(f"device_kind must be one of {sorted(RATES)}, got {device_kind!r}")
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"seeds must be a positive integer, got {seeds!r}")
    train = scale.train
    tokens_each = TOKENS_BASE + TOKENS_PER_ROUND * scale.train_rounds
    if train.get("max_steps"):
        per_run = train["max_steps"] * train.get("batch_size", 4) * train.get("grad_accum", 1)
    else:
        per_run = scale.train_dialogues * train.get("epochs", 1)
    train_tokens = seeds * len(scale.variants) * per_run * tokens_each
    n_models = 1 + seeds * len(scale.variants)  # the original model and each taught one
    questions_each = (scale.eval_rounds + 1) * scale.eval_heldout + scale.eval_rounds
    eval_questions = n_models * len(scale.domains) * scale.eval_users * questions_each
    tokens_s, questions_s, load_s = RATES[device_kind]
    if device_kind == "cpu":
        tokens_s, questions_s = tokens_s * cores, questions_s * cores
    cost = FULL_FINE_TUNING_COST if train.get("full") else 1.0
    loads = seeds * len(scale.variants) + n_models * len(scale.domains)
    seconds = train_tokens * cost / tokens_s + eval_questions / questions_s + loads * load_s
    device = (f"cpu ({cores} core{'s' if cores != 1 else ''}, otherwise idle)"
              if device_kind == "cpu" else device_kind)
    return Estimate(seconds, device, train_tokens, eval_questions,
                    default_model=scale.model == MEASURED_MODEL)


def check_feasible(scale: Any, device_kind: str, force: bool = False,
                   cores: int | None = None, seeds: int = 1) -> Estimate:
    """The estimate of ``scale`` (``seeds`` repeats) here; ValueError when it exceeds
    ABSURD_S and not ``force``."""
    result = estimate(scale, device_kind, cpu_cores() if cores is None else cores, seeds)
    if result.seconds > ABSURD_S and not force:
        raise ValueError(
            f"--scale {scale.name} would take {result.describe()}, past the "
            f"{format_duration(ABSURD_S)} this command starts without asking; run it where "
            f"it is sized for ({scale.description}), choose a smaller --scale, or pass "
            f"--force to start it anyway")
    return result
