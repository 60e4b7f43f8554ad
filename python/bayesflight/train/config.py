"""The settings of one training run, with the paper's recipe as a preset.

A run is fully described by a ``TrainConfig``: the trainer writes it to
``train_config.json`` beside the result, and ``--resume`` refuses to continue a run
under different settings.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import MISSING, dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from ..devices import DTYPES, Dtype
from ..llm.embedded import DEFAULT_MODEL

Target = Literal["hard", "soft"]
LossTokens = Literal["assistant", "digit"]
LrSchedule = Literal["cosine", "constant"]
ReportTo = Literal["none", "tensorboard", "trackio", "wandb"]
TARGETS: tuple[str, ...] = get_args(Target)
LOSS_TOKENS: tuple[str, ...] = get_args(LossTokens)
LR_SCHEDULES: tuple[str, ...] = get_args(LrSchedule)
REPORT_TO: tuple[str, ...] = get_args(ReportTo)

# The paper's full fine-tuning recipe (task spec section 5); micro-batch 8 is ours.
PRESETS: dict[str, dict[str, Any]] = {
    "paper-full": {
        "full": True,
        "lr": 2e-6,
        "global_batch": 128,
        "batch_size": 8,
        "epochs": 1,
        "max_len": 2048,
        "warmup_ratio": 0.1,
    },
}

# Fields that may change between a run and its resumption without changing the result. The
# paths may: a run directory or its data can move; the trainer compares the data's content.
RESUMABLE_CHANGES = frozenset({"resume", "progress", "checkpoint_every", "device", "out",
                               "data", "report_to", "run_name", "token_cache"})


def _arg(default: Any = MISSING, help: str = "") -> Any:
    """A field whose ``help`` the command line shows (``metadata`` as HfArgumentParser reads it)."""
    return field(default=default, metadata={"help": help})


@dataclass
class TrainConfig:
    """Everything that determines a training run: one field per ``bayesflight train`` flag.

    ``bayesflight train`` builds its parser from these fields (``HfArgumentParser``), so
    ``--batch-size`` and ``--batch_size`` both set ``batch_size``, and a YAML or JSON file of
    the same names (``--config``, or ``train_config.json`` of a finished run) sets them too.
    """

    data: str = _arg(help="JSONL file of dialogues (bayesflight generate)")
    out: str = _arg(help="output directory (new, or an unfinished run with --resume)")
    model: str = _arg(DEFAULT_MODEL, "base model: embedded name, local directory or hub id")
    full: bool = _arg(False, "full fine-tuning instead of LoRA")
    fsdp: bool = _arg(False, "with --full under torchrun: shard weights, gradients and optimizer "
                             "state over the processes (FSDP, one unit per decoder layer) "
                             "instead of a whole copy on each (DDP); for models too large to "
                             "fine-tune whole on one device")
    lora_r: int = _arg(16, "LoRA rank (LoRA is put on all linear layers)")
    lora_alpha: float = _arg(32.0, "LoRA scaling alpha")
    lora_dropout: float = _arg(0.05, "LoRA dropout")
    lora_layers: int | None = _arg(None, "put LoRA on the top N decoder layers only (default: "
                                         "all)")
    epochs: int = _arg(1, "passes over the data")
    max_steps: int | None = _arg(None, "optimizer steps; overrides --epochs")
    lr: float | None = _arg(None, "peak learning rate (default: 2e-4 for LoRA, 2e-5 for --full)")
    batch_size: int = _arg(4, "dialogues per forward pass on each process")
    grad_accum: int = _arg(1, "forward passes per optimizer step on each process")
    global_batch: int | None = _arg(None, "dialogues per optimizer step over all processes; "
                                          "sets --grad-accum")
    max_len: int = _arg(2048, "tokens per dialogue; longer dialogues keep their opening rounds")
    token_cache: bool = _arg(True, "keep the tokenised dialogues beside --data (hidden: "
                                   ".NAME.KEY.tokens.npz) and reuse them while the file and "
                                   "the tokenizer with its chat template are unchanged; "
                                   "--token-cache false tokenises afresh and writes nothing")
    warmup_ratio: float = _arg(0.1, "fraction of steps of linear warm-up before the schedule")
    lr_schedule: LrSchedule = _arg("cosine", "after the warm-up: cosine, a cosine decay to 0 "
                                             "at the last step (the paper); constant, the peak "
                                             "rate to the end, so that a run stopped at any "
                                             "step (export-checkpoint) is what those steps "
                                             "taught, not the schedule's end")
    weight_decay: float = _arg(0.0, "AdamW weight decay")
    max_grad_norm: float = _arg(1.0, "gradient clipping norm, 0 for none")
    seed: int = _arg(0, "seed of data order and initialisation")
    stage_key: str | None = _arg(None, "a curriculum: train the data in stages, the runs of "
                                       "consecutive lines with one value of this key (e.g. "
                                       "domain), in file order; dialogues are shuffled within "
                                       "a stage only, every epoch goes through the stages in "
                                       "order, and one learning-rate schedule spans the run; "
                                       "unset, the whole file is shuffled together")
    target: Target = _arg("hard", "hard: cross-entropy on the teacher's text (the paper); soft: "
                                  "KL from the teacher's option distribution to the model's")
    soft_weight: float = _arg(1.0, "with --target soft: weight of the KL term; 1 - weight goes "
                                   "to the hard cross-entropy")
    loss_tokens: LossTokens = _arg("assistant", "assistant: every assistant token (the paper); "
                                                "digit: only the option number, the one token "
                                                "that carries information")
    gradient_checkpointing: bool = _arg(False, "recompute activations in the backward pass to "
                                               "save memory")
    checkpoint_every: int = _arg(50, "optimizer steps between checkpoints, 0 for none")
    resume: bool = _arg(False, "continue the run in --out from its last checkpoint")
    device: str = _arg("auto", "auto, cpu, cuda or cuda:N")
    dtype: Dtype = _arg("auto", "compute precision: fp32, or bf16 autocast over fp32 weights "
                                "(auto: bf16 on a GPU, fp32 on a CPU)")
    progress: bool = _arg(True, "show a progress bar")
    report_to: ReportTo = _arg("none", "also send every metrics line to an experiment tracker "
                                       "(accelerate's trackers; tensorboard writes event files "
                                       "to OUT/runs/RUN_NAME and needs no network)")
    run_name: str | None = _arg(None, "the run's name in the tracker (default: OUT's name)")

    def __post_init__(self) -> None:
        _positive(self, "lora_r", "epochs", "batch_size", "grad_accum", "max_len")
        _positive(self, "lora_alpha", kind=float)
        for name in ("max_steps", "global_batch", "lora_layers"):
            if getattr(self, name) is not None:
                _positive(self, name)
        if self.lr is not None and not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        _in_range(self, "lora_dropout", 0.0, 1.0, closed=False)
        _in_range(self, "warmup_ratio", 0.0, 1.0)
        _in_range(self, "soft_weight", 0.0, 1.0)
        if self.weight_decay < 0 or self.max_grad_norm < 0 or self.checkpoint_every < 0:
            raise ValueError("weight_decay, max_grad_norm and checkpoint_every must be >= 0")
        if self.stage_key is not None and not (isinstance(self.stage_key, str)
                                               and self.stage_key):
            raise ValueError(f"stage_key must be a non-empty string (a key of the data's "
                             f"lines) or None, got {self.stage_key!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        for name, allowed in (("target", TARGETS), ("loss_tokens", LOSS_TOKENS),
                              ("lr_schedule", LR_SCHEDULES),
                              ("dtype", DTYPES), ("report_to", REPORT_TO)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if self.fsdp and not self.full:
            raise ValueError("fsdp shards full fine-tuning; it needs full=True (LoRA runs "
                             "under DDP, its trained weights are small)")
        if self.full and self.lora_layers is not None:
            raise ValueError("lora_layers applies to LoRA; it cannot be combined with full=True")

    @property
    def learning_rate(self) -> float:
        """``lr``, or the default for the kind of fine-tuning."""
        if self.lr is not None:
            return self.lr
        return 2e-5 if self.full else 2e-4

    def accumulation(self, world_size: int) -> int:
        """Forward passes per optimizer step on each process, given the number of processes."""
        if self.global_batch is None:
            return self.grad_accum
        per_pass = self.batch_size * world_size
        if self.global_batch % per_pass:
            raise ValueError(
                f"global_batch={self.global_batch} must be a multiple of batch_size x processes "
                f"= {self.batch_size} x {world_size}"
            )
        return self.global_batch // per_pass

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """A config from a dict such as ``train_config.json``; unknown keys raise ValueError."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown TrainConfig fields: {', '.join(unknown)}")
        return cls(**values)

    @classmethod
    def load(cls, path: str | os.PathLike) -> TrainConfig:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def differences(self, other: TrainConfig) -> list[str]:
        """Fields, other than RESUMABLE_CHANGES, on which ``other`` differs: ``name: a != b``."""
        mine, theirs = self.to_dict(), other.to_dict()
        return [f"{k}: {mine[k]!r} != {theirs[k]!r}" for k in mine
                if k not in RESUMABLE_CHANGES and mine[k] != theirs[k]]


def with_preset(preset: str | None, **overrides: Any) -> TrainConfig:
    """A config from ``preset`` (a key of PRESETS or None), then ``overrides`` on top."""
    if preset is not None and preset not in PRESETS:
        raise ValueError(f"preset must be one of {tuple(PRESETS)}, got {preset!r}")
    return TrainConfig(**{**PRESETS.get(preset or "", {}), **overrides})


def parse_lora(spec: str) -> dict[str, Any]:
    """``r=16,alpha=32,dropout=0.05`` (any subset) to ``{lora_r: 16, lora_alpha: 32.0, ...}``."""
    kinds = {"r": ("lora_r", int), "alpha": ("lora_alpha", float),
             "dropout": ("lora_dropout", float)}
    out: dict[str, Any] = {}
    for item in filter(None, (s.strip() for s in spec.split(","))):
        key, sep, value = item.partition("=")
        if not sep or key.strip() not in kinds:
            raise ValueError(f"--lora expects comma-separated r=INT, alpha=FLOAT, dropout=FLOAT; "
                             f"got {item!r} in {spec!r}")
        name, kind = kinds[key.strip()]
        try:
            out[name] = kind(value)
        except ValueError:
            raise ValueError(f"--lora {key.strip()} must be {kind.__name__}, "
                             f"got {value!r}") from None
    return out


def _positive(cfg: TrainConfig, *names: str, kind: type = int) -> None:
    for name in names:
        value = getattr(cfg, name)
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
        if not ok or (kind is int and not isinstance(value, int)):
            raise ValueError(f"{name} must be a positive {kind.__name__}, got {value!r}")


def _in_range(cfg: TrainConfig, name: str, low: float, high: float, closed: bool = True) -> None:
    value = getattr(cfg, name)
    if not (low <= value <= high if closed else low <= value < high):
        bracket = "]" if closed else ")"
        raise ValueError(f"{name} must lie in [{low}, {high}{bracket}, got {value!r}")
