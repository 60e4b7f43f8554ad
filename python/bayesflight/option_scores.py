"""Option scores: a belief statement acted on, written out option by option.

With ``generate --scores`` each of the Bayesian teacher's turns, after its belief statement,
scores every option against that statement before it names the best one:

    So far: departure time: later (strong); duration: no preference. Flight 1 scores 14 + 0
    = 14. Flight 2 scores 18 + 0 = 18. The best option is Flight 2.

An option's points on a feature are its level on a scale of 0 to ``L`` points shared by all
the domain's features (``L`` the least common multiple of their level steps, so every level
is a whole number of points: ``08:24 PM`` is 9 of 10). A feature's term is those points taken
toward the stated direction (``L`` minus the points for ``earlier``, ``cheaper``...), once for
a slight preference and twice for a strong one, and 0 with no preference. An option's total is
then its score under the statement's bucket centres (``statements.statement_weights``) times
``L / 0.4``, plus a constant the same for every option of the round, so the best total is
exactly the option that acting on the statement recommends, ties to the lowest number; the
teacher's answer follows the totals.

Why: with only the statement before the answer, one digit is the whole supervision of the
rule that acts on it, and models taught from random weights never learned it
(docs/results.md). Written out, each term is a local step (one stated word, one option's
value), each total a sum of a few small numbers, the answer a comparison of totals.
Shapes: K options, F features; ``levels`` are statement bucket levels in -2..2.
"""

from __future__ import annotations

import math

import numpy as np

from .domains import Domain
from .statements import START, parse_statement, texts_by_row


def scale(domain: Domain) -> int:
    """``L``: the points of a feature's highest level, the same for every feature of
    ``domain`` and a whole multiple of each feature's step (levels - 1)."""
    return math.lcm(*(int(n) - 1 for n in domain.n_levels))


def points(domain: Domain, options: np.ndarray) -> np.ndarray:
    """Each option's points on each feature, 0 .. ``scale(domain)``: (..., F) int64."""
    steps = scale(domain) // (domain.n_levels - 1)
    return domain.levels(options) * steps


def terms(domain: Domain, levels: np.ndarray, options: np.ndarray) -> np.ndarray:
    """The terms of each option's total: ``levels`` (..., F) stated bucket levels, ``options``
    (..., K, F) -> (..., K, F) int64; the points toward the stated direction, times the
    strength (1 slight, 2 strong), 0 where no preference is stated."""
    lv = np.asarray(levels, dtype=np.int64)[..., None, :]  # (..., 1, F)
    p = points(domain, options)
    toward = np.where(lv > 0, p, scale(domain) - p)
    return np.abs(lv) * toward


def best(totals: np.ndarray) -> np.ndarray:
    """The option with the highest total along the last axis, ties to the lowest index:
    (..., K) int -> (...)."""
    t = np.asarray(totals)
    return np.argmax(t == t.max(axis=-1, keepdims=True), axis=-1)


def tied_best(totals: np.ndarray) -> np.ndarray:
    """Acting on the statement as a distribution: uniform over the options with the highest
    total, (..., K) -> (..., K) float64 (the teacher's ``option_probs`` with scores)."""
    t = np.asarray(totals)
    top = (t == t.max(axis=-1, keepdims=True)).astype(np.float64)
    return top / top.sum(axis=-1, keepdims=True)


def scores_text(domain: Domain, row: np.ndarray) -> str:
    """The sentences for one round's terms ``row`` (K, F):
    ``Flight 1 scores 14 + 0 = 14. Flight 2 scores 18 + 0 = 18.``"""
    return " ".join(f"{domain.label(k)} scores {' + '.join(map(str, t))} = {sum(t)}."
                    for k, t in enumerate(np.asarray(row).tolist()))


def scores_texts(domain: Domain, all_terms: np.ndarray) -> np.ndarray:
    """The sentences for ``all_terms`` (..., K, F): an object array (...) of str, each
    distinct round written once."""
    t = np.asarray(all_terms)
    flat = t.reshape(-1, *t.shape[-2:])
    return texts_by_row(flat, lambda row: scores_text(domain, row)).reshape(t.shape[:-2])


def split_turn(text: str) -> tuple[str, str]:
    """A turn's text before the answer, as (statement, scores): the statement is the text
    from its start (``So far: ``, after any evidence before it; ``bayesflight.evidence``)
    through its first full stop (a statement has no other), the scores the rest, stripped."""
    body = text.strip()
    at = body.find(START)
    head, dot, rest = body[max(at, 0):].partition(".")
    return head + dot, rest.strip()


def scores_agreement(domain: Domain, rounds: np.ndarray, written: np.ndarray) -> np.ndarray:
    """How often a model scores the options right: for each round r, the share of the N
    ``written`` (N, R) turn texts (statement, then scores) whose scores are exactly those
    of their own statement for the round's options ``rounds`` (N, R, K, F). A statement
    that does not parse scores nothing right. Whether a model acts on a statement by the
    rule, apart from whether the statement is the teacher's."""
    written = np.asarray(written, dtype=object)
    if written.shape != rounds.shape[:2]:
        raise ValueError(f"written must have shape {rounds.shape[:2]} (users, rounds), got "
                         f"{written.shape}")
    right = np.zeros(written.shape, dtype=bool)
    for (u, r), text in np.ndenumerate(written):
        statement, scores = split_turn(str(text))
        levels = parse_statement(domain, statement)
        if levels is not None:
            right[u, r] = scores == scores_text(domain, terms(domain, levels, rounds[u, r]))
    return right.mean(axis=0)
