"""The taught models a reproduction can train, each described once: what teaches it, on which
domains, with which target, how it is evaluated and what it is called.

A ``Teaching`` is one data file (``OUT/data/NAME.jsonl``); variants that share one train on
the same dialogues (``bayesian`` and ``bayesian-soft``; ``bayesian-mixture`` and
``bayesian-curriculum``). A teaching over several domains holds ``train_dialogues`` split in
equal parts over them, in order, the remainder going to the last; a variant with a
``stage_key`` trains those parts in file order (a curriculum, ``TrainConfig.stage_key``)
instead of shuffled together (a mixture).
"""

from __future__ import annotations

from dataclasses import dataclass

ORIGINAL = "original"  # the untaught model: evaluated beside the variants, under this label


@dataclass(frozen=True)
class Teaching:
    """One teaching data file: the teacher, belief statements or not, and its domain parts."""

    name: str  # the file's stem, OUT/data/NAME.jsonl
    teacher: str  # "bayesian" or "oracle" (teacher.TEACHERS)
    statements: bool = False  # a belief statement opens each teacher turn
    domains: tuple[str, ...] = ("flight",)  # the parts, in file order

    def shares(self, n_dialogues: int) -> tuple[int, ...]:
        """Dialogues of each part: equal parts of ``n_dialogues``, the remainder to the last;
        ValueError when a part would be empty."""
        parts = len(self.domains)
        if n_dialogues < parts:
            raise ValueError(f"train_dialogues must be at least {parts} for the {self.name!r} "
                             f"teaching (one per domain part: {', '.join(self.domains)}), "
                             f"got {n_dialogues}")
        base = n_dialogues // parts
        return (base,) * (parts - 1) + (n_dialogues - base * (parts - 1),)


@dataclass(frozen=True)
class Variant:
    """One taught model: its teaching data, training target, evaluation mode and label."""

    name: str
    label: str  # its name in results and reports
    teaching: Teaching
    target: str = "hard"  # TrainConfig.target
    mode: str = "score"  # evaluation mode (llm.evaluation): "score" or "belief"
    stage_key: str | None = None  # TrainConfig.stage_key: "domain" trains the parts in order


BAYESIAN = Teaching("bayesian", "bayesian")
ORACLE = Teaching("oracle", "oracle")
STATEMENTS = Teaching("bayesian-statements", "bayesian", statements=True)
MIXTURE = Teaching("bayesian-mixture", "bayesian", domains=("flight-2", "flight-3", "flight"))

VARIANTS: dict[str, Variant] = {v.name: v for v in (
    Variant("bayesian", "bayesian-taught", BAYESIAN),
    Variant("oracle", "oracle-taught", ORACLE),
    Variant("bayesian-soft", "bayesian-taught (soft)", BAYESIAN, target="soft"),
    Variant("bayesian-statements", "bayesian-taught (statements)", STATEMENTS, mode="belief"),
    Variant("bayesian-mixture", "bayesian-taught (mixture)", MIXTURE),
    Variant("bayesian-curriculum", "bayesian-taught (curriculum)", MIXTURE,
            stage_key="domain"),
)}


def label(name: str) -> str:
    """The label of a variant or of the original model."""
    return ORIGINAL if name == ORIGINAL else VARIANTS[name].label


def mode(name: str) -> str:
    """The evaluation mode of a variant or of the original model (scored)."""
    return "score" if name == ORIGINAL else VARIANTS[name].mode
