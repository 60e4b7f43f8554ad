"""results.json (``{"config": {...}, "assistants": {name: summary}}``) and the per-round table."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .fileio import write_json
from .metrics import format_ci

SUMMARY_KEYS = ("heldout_accuracy", "heldout_accuracy_ci95", "interaction_accuracy",
                "agreement_with_bayesian", "kl_from_bayesian")


def write_results(
    out_dir: str | os.PathLike, config: dict[str, Any], summaries: dict[str, dict[str, Any]]
) -> Path:
    """Write ``out_dir``/results.json atomically (creating ``out_dir``); returns its path."""
    directory = Path(out_dir)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "results.json"
    write_json(path, {"config": config, "assistants": summaries})
    return path


def load_results(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Read a results.json: (config, summaries). Raises ValueError naming what is missing."""
    with open(path, encoding="utf-8") as handle:
        try:
            data = json.load(handle)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: invalid JSON at line {err.lineno}: {err.msg}") from err
    if not isinstance(data, dict) or not isinstance(data.get("assistants"), dict):
        raise ValueError(f"{path}: expected an object with 'config' and 'assistants'")
    for name, summary in data["assistants"].items():
        missing = [k for k in SUMMARY_KEYS if k not in summary]
        if missing:
            raise ValueError(f"{path}: assistants.{name} lacks {missing}")
    return data.get("config", {}), data["assistants"]


def _block(title: str, summaries: dict[str, dict[str, Any]], key: str, first: int,
           cell: Any, rows: str = "assistant", columns: str = "round") -> list[str]:
    """One titled table: a row per assistant (or what ``rows`` names), a column per round
    (or what ``columns`` names) numbered from ``first``."""
    width = max(len(name) for name in summaries)
    n = max(len(s[key]) for s in summaries.values())
    cells = {name: [cell(s, i) for i in range(len(s[key]))] for name, s in summaries.items()}
    col = max([len(c) for row in cells.values() for c in row] + [len(f"{columns} {n}")])
    header = " ".join(f"{f'{columns} {first + i}':>{col}}" for i in range(n))
    width = max(width, len(rows))
    lines = [title, f"{rows:<{width}}  {header}"]
    lines += [f"{name:<{width}}  " + " ".join(f"{c:>{col}}" for c in row)
              for name, row in cells.items()]
    return lines


def format_table(summaries: dict[str, dict[str, Any]]) -> str:
    """The per-round table the commands print: held-out accuracy ± 95% CI half-width (round 0
    is before any interaction), interaction accuracy, agreement and KL with the Bayesian."""
    if not summaries:
        raise ValueError("summaries must name at least one assistant")

    def accuracy(s: dict[str, Any], i: int) -> str:
        return format_ci(s["heldout_accuracy"][i], s["heldout_accuracy_ci95"][i])

    def plain(key: str, digits: int) -> Any:
        return lambda s, i: f"{s[key][i]:.{digits}f}"

    blocks = [
        _block("held-out accuracy (mean ± 95% CI over users), by rounds completed",
               summaries, "heldout_accuracy", 0, accuracy),
        _block("interaction accuracy (recommendation = the user's choice), by round",
               summaries, "interaction_accuracy", 1, plain("interaction_accuracy", 3)),
        _block("agreement with the Bayesian assistant on held-out sets, by rounds completed",
               summaries, "agreement_with_bayesian", 0, plain("agreement_with_bayesian", 3)),
        _block("KL(Bayesian || assistant) on held-out sets in nats, by rounds completed",
               summaries, "kl_from_bayesian", 0, plain("kl_from_bayesian", 3)),
    ]
    gains = [f"{name}: {s['update_gain']:+.3f} [{s['update_gain_ci95'][0]:+.3f}, "
             f"{s['update_gain_ci95'][1]:+.3f}]"
             for name, s in summaries.items() if "update_gain" in s]
    if gains:
        blocks.append(["update gain (held-out accuracy after the last round minus before any, "
                       "95% CI over users)", *gains])
    return "\n\n".join("\n".join(b) for b in blocks)


def format_statement_agreement(name: str, agreement: dict[str, list[float]]) -> str:
    """The block belief mode prints: by round, the share of the model's statements that are the
    Bayesian teacher's (``agreement["model"]``) above that of one fixed sentence per round
    (``agreement["most_common"]``)."""
    rows = {name: agreement["model"], "one fixed sentence": agreement["most_common"]}
    return "\n".join(_block(
        "belief statements equal to the Bayesian teacher's (from the choices before the "
        "round), by round", {k: {"share": v} for k, v in rows.items()}, "share", 0,
        lambda s, i: f"{s['share'][i]:.3f}"))


def format_scores_agreement(name: str, shares: list[float]) -> str:
    """The block a model that writes option scores prints: by round, the share of its
    scores that are exactly those of the statement before them (its own or the given one)."""
    return _shares_block("option scores equal to those of the statement before them, by round",
                         name, shares)


def format_answer_shares(shares: dict[str, list[float]]) -> str:
    """The block evaluate prints: for each assistant, the share of its held-out answers on
    each option position (``metrics.answer_shares``). A model that answers one position
    whatever the options shows 1.000 there, which the accuracy table alone does not say."""
    return "\n".join(_block(
        "held-out answers by option position (share of all held-out questions)",
        {name: {"share": v} for name, v in shares.items()}, "share", 1,
        lambda s, i: f"{s['share'][i]:.3f}", columns="option"))


def format_evidence_agreement(name: str, shares: list[float],
                              by_feature: dict[str, list[float]] | None = None) -> str:
    """The block a model that writes evidence prints (belief mode): by round, the share of
    its evidence that is exactly that of the user's last choice (none in round 0); then,
    given ``by_feature`` (label -> by round), the same share for each feature's differences,
    which says which feature a model that gets the evidence wrong misreads."""
    text = _shares_block("evidence equal to that of the user's last choice, by round", name,
                         shares)
    if by_feature:
        text += "\n\n" + "\n".join(_block(
            f"{name}'s evidence on each feature equal to that of the user's last choice, "
            "by round", {label: {"share": v} for label, v in by_feature.items()}, "share", 0,
            lambda s, i: f"{s['share'][i]:.3f}", rows="feature"))
    return text


def _shares_block(title: str, name: str, shares: list[float]) -> str:
    """One model's shares by round under ``title``."""
    return "\n".join(_block(title, {name: {"share": shares}}, "share", 0,
                            lambda s, i: f"{s['share'][i]:.3f}"))
