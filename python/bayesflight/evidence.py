"""Evidence: what a user's choice reveals, written out before the next belief statement.

With ``generate --evidence`` each of the Bayesian teacher's turns after the first opens with
the evidence of the user's last choice: the chosen option against each option passed over,
feature by feature, in the points of ``option_scores.points`` (0 .. ``L`` on every feature):

    Flight 2 over Flight 1: departure time +4, duration -3. So far: departure time: later
    (slight); duration: no preference. ...

or, worked out from the two options' points (``generate --evidence worked``):

    Flight 2 over Flight 1: departure time 9 - 5 = +4, duration 2 - 5 = -3. So far: ...

Why: a belief statement needs the user's choices, and models taught from random weights wrote
statements typical of each round, not of the user (their directions agreed with the teacher's
at chance; docs/results.md). Finding the choice in the feedback and comparing the two options
it names are local steps of the kind the option scores showed such a model learns; written
out, they put each choice's evidence in one place, next to the statement it moves. The
evidence is a fact of the conversation, not a belief: the same for every teacher. The
``worked`` form writes each difference's two operands as well, as the option scores write
each total after its terms: finding an option's points and subtracting two of them become
two steps, where a model taught on the bare differences got the subtraction right in about
half the turns (docs/results.md).
Shapes: N dialogues, R rounds, K options, F features.
"""

from __future__ import annotations

import re
from functools import cache

import numpy as np

from .domains import Domain
from .option_scores import points
from .statements import START, texts_by_row

FORMS = ("differences", "worked")  # how the evidence is written: "+4", or "9 - 5 = +4"


def check_form(form: str) -> str:
    """``form`` if it is one of ``FORMS``; else one clear error."""
    if form not in FORMS:
        raise ValueError(f"evidence must be one of {FORMS}, got {form!r}")
    return form


def differences(domain: Domain, rounds: np.ndarray, choices: np.ndarray) -> np.ndarray:
    """The chosen option's points minus each other option's, feature by feature:
    ``rounds`` (..., K, F), ``choices`` (...) -> (..., K-1, F) int64, the other options in
    their order."""
    p = points(domain, rounds)  # (..., K, F)
    c = np.asarray(choices, dtype=np.int64)
    k = p.shape[-2]
    others = np.arange(k - 1) + (np.arange(k - 1) >= c[..., None])  # (..., K-1)
    chosen = np.take_along_axis(p, c[..., None, None], axis=-2)  # (..., 1, F)
    passed = np.take_along_axis(p, others[..., None], axis=-2)  # (..., K-1, F)
    return chosen - passed


def evidence_text(domain: Domain, choice: int, option_points: np.ndarray,
                  form: str = "differences") -> str:
    """The sentences for one choice (0-based) among options of ``option_points`` (K, F)
    (``option_scores.points``): ``Flight 2 over Flight 1: departure time +4, duration -3.``,
    or with ``form`` ``worked`` ``... departure time 9 - 5 = +4, duration 2 - 5 = -3.``"""
    check_form(form)
    p = np.asarray(option_points).tolist()

    def term(a: int, b: int) -> str:
        diff = f"{a - b:+d}" if a != b else "0"
        return f"{a} - {b} = {diff}" if form == "worked" else diff

    return " ".join(
        f"{domain.label(choice)} over {domain.label(k)}: "
        + ", ".join(f"{feature.label} {term(a, b)}"
                    for feature, a, b in zip(domain.features, p[choice], p[k], strict=True))
        + "." for k in range(len(p)) if k != choice)


def evidence_texts(domain: Domain, rounds: np.ndarray, choices: np.ndarray,
                   form: str = "differences") -> np.ndarray:
    """The evidence of every choice, written in ``form``: ``rounds`` (..., K, F), ``choices``
    (...) -> an object array (...) of str, each distinct (choice, options' points) written
    once."""
    check_form(form)
    c = np.asarray(choices, dtype=np.int64)
    p = points(domain, rounds)  # (..., K, F)
    shape = p.shape[-2:]
    rows = np.concatenate([c.reshape(-1, 1), p.reshape(c.size, -1)], axis=1)
    return texts_by_row(rows, lambda row: evidence_text(
        domain, int(row[0]), row[1:].reshape(shape), form)).reshape(c.shape)


def with_evidence(domain: Domain, rounds: np.ndarray, choices: np.ndarray,
                  said: np.ndarray, form: str = "differences") -> np.ndarray:
    """``said`` (N, R) turn texts, each after the first opened by the evidence (in ``form``)
    of the choice of the round before it (``rounds`` (N, R, K, F), ``choices`` (N, R-1) or
    more)."""
    out = np.array(said, dtype=object)
    if out.shape[1] > 1:
        seen = evidence_texts(domain, rounds[:, :out.shape[1] - 1],
                              np.asarray(choices)[:, :out.shape[1] - 1], form)
        out[:, 1:] = seen + " " + out[:, 1:]
    return out


def split_evidence(text: str) -> tuple[str, str]:
    """A turn's text as (evidence, the rest from the statement on); the evidence is empty
    when the turn has none or writes no statement."""
    head, start, rest = text.strip().partition(START)
    if not start:
        return "", text.strip()
    return head.strip(), start + rest


def feature_clauses(domain: Domain, evidence: str) -> tuple[tuple[str, ...], ...]:
    """What an evidence text says of each feature, in ``domain.features`` order: the clauses
    after the feature's label, in the order written (``+4``, ``0``, ``9 - 5 = +4``); () for a
    feature the text never names. A label that starts another (``price`` in a longer one)
    is read as the longer one where that is what is written."""
    pattern = _clause_pattern(tuple(f.label for f in domain.features))
    said: dict[str, list[str]] = {f.label: [] for f in domain.features}
    for label, clause in pattern.findall(evidence):
        said[label].append(clause.strip())
    return tuple(tuple(said[f.label]) for f in domain.features)


@cache
def _clause_pattern(labels: tuple[str, ...]) -> re.Pattern[str]:
    """A feature label at the start of a comparison's clause (after ``: `` or ``, ``), then
    its clause up to the next comma or full stop; the longest label first."""
    names = "|".join(re.escape(label) for label in sorted(labels, key=len, reverse=True))
    return re.compile(rf"(?:^|(?<=: )|(?<=, ))({names}) ([^,.]*)")


def _exact_and_found(domain: Domain, rounds: np.ndarray, choices: np.ndarray,
                     written: np.ndarray, form: str) -> tuple[np.ndarray, np.ndarray]:
    """(N, R) object arrays: the evidence of the choice before each round (none in round
    0) written in ``form``, and the evidence of each ``written`` turn."""
    written = np.asarray(written, dtype=object)
    if written.shape != rounds.shape[:2]:
        raise ValueError(f"written must have shape {rounds.shape[:2]} (users, rounds), got "
                         f"{written.shape}")
    exact = np.full(written.shape, "", dtype=object)
    exact[:, 1:] = evidence_texts(domain, rounds[:, :-1], np.asarray(choices)[:, :-1], form)
    found = np.array([[split_evidence(str(t))[0] for t in row] for row in written],
                     dtype=object).reshape(written.shape)
    return exact, found


def evidence_agreement(domain: Domain, rounds: np.ndarray, choices: np.ndarray,
                       written: np.ndarray, form: str = "differences") -> np.ndarray:
    """How often a model reads the user's choice right: for each round r, the share of the N
    ``written`` (N, R) turn texts whose evidence is exactly that of the choice of round r-1
    (none in round 0) written in ``form``, for the options ``rounds`` (N, R, K, F) and
    ``choices`` (N, R).
    Whether a model finds the evidence, apart from whether it moves its statement by it."""
    exact, found = _exact_and_found(domain, rounds, choices, written, form)
    return (found == exact).mean(axis=0).astype(np.float64)


def evidence_agreement_by_feature(domain: Domain, rounds: np.ndarray, choices: np.ndarray,
                                  written: np.ndarray, form: str = "differences") -> np.ndarray:
    """How often a model reads each feature of the user's choice right: (F, R), for feature
    f and round r the share of the N ``written`` (N, R) turns whose evidence says of f
    (:func:`feature_clauses`: every comparison, in order) what the evidence of the choice
    of round r-1 says (nothing in round 0).
    Where :func:`evidence_agreement` is low, this says which feature's differences the
    model gets wrong: a turn's evidence is exact only if every feature's is."""
    exact, found = _exact_and_found(domain, rounds, choices, written, form)
    clauses: dict[str, tuple[tuple[str, ...], ...]] = {}

    def read(text: str) -> tuple[tuple[str, ...], ...]:
        if text not in clauses:
            clauses[text] = feature_clauses(domain, text)
        return clauses[text]

    same = np.array([[[a == b for a, b in zip(read(e), read(f), strict=True)]
                      for e, f in zip(e_row, f_row, strict=True)]
                     for e_row, f_row in zip(exact, found, strict=True)], dtype=bool)
    return same.reshape(*exact.shape, domain.n_features).mean(axis=0).T.astype(np.float64)
