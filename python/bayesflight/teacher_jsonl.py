"""Teaching dialogues as JSON lines in the paper's chat format, rendered fast, written atomically.

One line per dialogue, ``{"idx", "messages", "option_probs", "teacher", "domain", "user_id",
"reward_fn", "choices"}``, byte-identical to ``json.dumps`` of that dict. ``messages`` are the
texts of ``bayesflight.chat``; ``option_probs`` holds the teacher's probability of each option,
one list per assistant turn. Every text piece is JSON-escaped once, in tables indexed by option
levels and choices, so that a line is one ``str.join`` of table entries.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np

from . import chat
from .domains import Domain
from .evidence import with_evidence
from .fileio import atomic_open
from .option_scores import scores_texts
from .statements import statements
from .teacher import Dialogues, TeachingConfig, generate

_GROUP_LIMIT = 4096  # most entries in one table of option texts (features grouped under it)
_WRITE_LINES = 1024  # lines joined per write: big enough to be cheap, small enough to reuse memory


def _esc(text: str) -> str:
    """``text`` as it appears between the quotes of a JSON string."""
    return json.dumps(text)[1:-1]


def _object_table(items: list[str]) -> np.ndarray:
    table = np.empty(len(items), dtype=object)
    table[:] = items
    return table


@dataclass(frozen=True)
class _Tables:
    """The escaped pieces of one domain's dialogues with K options per round."""

    groups: tuple[tuple[int, ...], ...]  # consecutive features rendered by one table
    radices: tuple[np.ndarray, ...]  # level weights that index a group's table
    option_tables: tuple[tuple[np.ndarray, ...], ...]  # [k][group] -> texts by group index
    first_user: str  # the line's opening up to the first option
    answer_open: str  # where an assistant turn's content starts (``between`` opens with it)
    between: np.ndarray  # (K, K) answer to round r, then feedback and question of round r+1
    last_answer: np.ndarray  # (K,) answer to the last round, then the end of ``messages``
    digits: np.ndarray  # (K,) choice numbers


def _feature_groups(domain: Domain) -> tuple[tuple[int, ...], ...]:
    """Consecutive features whose level combinations fit one table of _GROUP_LIMIT entries."""
    groups: list[list[int]] = [[]]
    size = 1
    for f, n in enumerate(domain.n_levels.tolist()):
        if groups[-1] and size * n > _GROUP_LIMIT:
            groups.append([])
            size = 1
        groups[-1].append(f)
        size *= n
    return tuple(tuple(g) for g in groups)


@cache
def _tables(domain: Domain, n_options: int) -> _Tables:
    """Build the escaped text tables of ``domain`` (cached: they never change)."""
    groups = _feature_groups(domain)
    n_levels = domain.n_levels.tolist()
    radices, option_tables = [], []
    for g in groups:
        sizes = [n_levels[f] for f in g]
        radices.append(np.cumprod([1, *sizes[:0:-1]])[::-1])
        radices[-1] = np.asarray(radices[-1], dtype=np.int64)
    for k in range(n_options):
        per_group = []
        for gi, g in enumerate(groups):
            if gi > 0:
                head = ", "
            else:
                head = ("\n" if k else "") + f"{domain.label(k)}:\n"
            texts = [
                _esc(head + ", ".join(domain.features[f].text(v) for f, v in zip(g, lv,
                                                                               strict=True)))
                for lv in itertools.product(*(range(n_levels[f]) for f in g))
            ]
            per_group.append(_object_table(texts))
        option_tables.append(tuple(per_group))
    probe = chat.question(domain, np.zeros((n_options, domain.n_features)))
    question_head = probe[: probe.index(f"{domain.label(0)}:\n")]
    user_open = ', {"role": "user", "content": "'
    answer_open = '"}, {"role": "assistant", "content": "'
    between = [
        [answer_open + _esc(chat.answer(domain, rec)) + '"}' + user_open
         + _esc(chat.feedback(domain, rec, pref) + "\n\n" + question_head)
         for pref in range(n_options)]
        for rec in range(n_options)
    ]
    last = [answer_open + _esc(chat.answer(domain, rec)) + '"}], "option_probs": '
            for rec in range(n_options)]
    return _Tables(
        groups=groups,
        radices=tuple(radices),
        option_tables=tuple(option_tables),
        first_user='{"role": "user", "content": "'
        + _esc(chat.instruction(domain) + "\n\n" + question_head),
        answer_open=answer_open,
        between=np.array(between, dtype=object),
        last_answer=_object_table(last),
        digits=_object_table([str(k) for k in range(n_options)]),
    )


def _floats(values: np.ndarray) -> np.ndarray:
    """JSON texts of float64 values (...), as ``json.dumps`` writes them: object array (...).

    Each distinct value is formatted once (probabilities repeat: many are ratios of counts).
    """
    unique, inverse = np.unique(values, return_inverse=True)
    texts = _object_table(list(map(float.__repr__, unique.tolist())))
    return texts[inverse.reshape(values.shape)]


def render(dialogues: Dialogues, config: TeachingConfig) -> list[str]:
    """The JSON lines (without newlines) of a chunk of dialogues, in order."""
    domain = config.domain
    n, n_rounds, k, _ = dialogues.rounds.shape
    t = _tables(domain, k)
    levels = domain.grid_levels(dialogues.rounds)
    recs = np.asarray(dialogues.recommendations, dtype=np.int64)
    choices = np.asarray(dialogues.choices, dtype=np.int64)
    probs = np.asarray(dialogues.option_probs, dtype=np.float64)
    reward_fn = _reward_texts(dialogues.user_weights)
    columns: list[list[str]] = [
        [f'{{"idx": {i}, "messages": [' for i in range(dialogues.start, dialogues.start + n)],
        [t.first_user] * n,
    ]
    said = (None if dialogues.statements is None
            else statements(domain, dialogues.statements))  # (N, R) sentences
    if dialogues.scores is not None:  # the option scores follow the statement
        said = said + " " + scores_texts(domain, dialogues.scores)
    if config.evidence:  # each turn after the first opens with the last choice's evidence
        said = with_evidence(domain, dialogues.rounds, choices, said, config.evidence)
    for r in range(n_rounds):
        for j in range(k):
            for gi, g in enumerate(t.groups):
                index = levels[:, r, j, list(g)] @ t.radices[gi]
                columns.append(t.option_tables[j][gi][index].tolist())
        if r < n_rounds - 1:
            answers = t.between[recs[:, r], choices[:, r]].tolist()
        else:
            answers = t.last_answer[recs[:, r]].tolist()
        if said is not None:  # the statement opens the assistant's content
            cut = len(t.answer_open)
            answers = [f"{t.answer_open}{_esc(s)} {a[cut:]}" for s, a in zip(said[:, r], answers,
                                                                            strict=True)]
        columns.append(answers)
    prob_texts = _floats(probs)
    for r in range(n_rounds):
        for j in range(k):
            columns.append(["[[" if r == j == 0 else ("], [" if j == 0 else ", ")] * n)
            columns.append(prob_texts[:, r, j].tolist())
    columns.append([f']], "teacher": "{config.teacher}", "domain": "{domain.name}", '
                    f'"user_id": '] * n)
    columns.append(list(map(str, dialogues.user_ids.tolist())))
    columns.append([', "reward_fn": '] * n)
    columns.append(reward_fn)
    for r in range(n_rounds):
        columns.append([', "choices": [' if r == 0 else ", "] * n)
        columns.append(t.digits[choices[:, r]].tolist())
    columns.append(["]}"] * n)
    return list(map("".join, zip(*columns, strict=True)))


def _reward_texts(user_weights: np.ndarray) -> list[str]:
    """``[w_1, ..., w_F]`` as JSON for each row of user_weights (N, F)."""
    unique, inverse = np.unique(user_weights, axis=0, return_inverse=True)
    texts = _object_table([json.dumps(row) for row in unique.tolist()])
    return texts[inverse.reshape(-1)].tolist()


@dataclass(frozen=True)
class GenerationSummary:
    """What a run wrote: the number of dialogues and of rounds redrawn for leakage control."""

    path: str
    n_dialogues: int
    n_redrawn: int


def write_dialogues(path: str | os.PathLike, config: TeachingConfig) -> GenerationSummary:
    """Generate the dialogues of ``config`` and write them to ``path`` atomically, as JSONL."""
    return write_parts(path, [config])[0]


def write_parts(path: str | os.PathLike,
                configs: Sequence[TeachingConfig]) -> list[GenerationSummary]:
    """The dialogues of each config in turn, one after the other in one JSONL file written
    atomically (a mixture of domains, say); one summary per config, in order."""
    summaries = []
    with atomic_open(path, "wb") as handle:
        for config in configs:
            redrawn = 0
            for chunk in generate(config):
                lines = render(chunk, config)
                for i in range(0, len(lines), _WRITE_LINES):
                    text = "\n".join(lines[i:i + _WRITE_LINES]) + "\n"
                    handle.write(text.encode("ascii"))  # JSON-escaped: ASCII only
                redrawn += chunk.n_redrawn
            summaries.append(GenerationSummary(os.fspath(path), config.n_dialogues, redrawn))
    return summaries
