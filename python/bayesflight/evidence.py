"""Evidence: what a user's choice reveals, written out before the next belief statement.

With ``generate --evidence`` each of the Bayesian teacher's turns after the first opens with
the evidence of the user's last choice: the chosen option against each option passed over,
feature by feature, in the points of ``option_scores.points`` (0 .. ``L`` on every feature):

    Flight 2 over Flight 1: departure time +4, duration -3. So far: departure time: later
    (slight); duration: no preference. ...

Why: a belief statement needs the user's choices, and models taught from random weights wrote
statements typical of each round, not of the user (their directions agreed with the teacher's
at chance; docs/results.md). Finding the choice in the feedback and comparing the two options
it names are local steps of the kind the option scores showed such a model learns; written
out, they put each choice's evidence in one place, next to the statement it moves. The
evidence is a fact of the conversation, not a belief: the same for every teacher.
Shapes: N dialogues, R rounds, K options, F features.
"""

from __future__ import annotations

import numpy as np

from .domains import Domain
from .option_scores import points
from .statements import START, texts_by_row


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


def evidence_text(domain: Domain, choice: int, diffs: np.ndarray) -> str:
    """The sentences for one choice (0-based) and its ``diffs`` (K-1, F):
    ``Flight 2 over Flight 1: departure time +4, duration -3.``"""
    others = [k for k in range(len(diffs) + 1) if k != choice]
    return " ".join(
        f"{domain.label(choice)} over {domain.label(k)}: "
        + ", ".join(f"{feature.label} {v:+d}" if v else f"{feature.label} 0"
                    for feature, v in zip(domain.features, row, strict=True)) + "."
        for k, row in zip(others, np.asarray(diffs).tolist(), strict=True))


def evidence_texts(domain: Domain, rounds: np.ndarray, choices: np.ndarray) -> np.ndarray:
    """The evidence of every choice: ``rounds`` (..., K, F), ``choices`` (...) -> an object
    array (...) of str, each distinct (choice, differences) written once."""
    c = np.asarray(choices, dtype=np.int64)
    d = differences(domain, rounds, c)
    rows = np.concatenate([c.reshape(-1, 1), d.reshape(len(c.reshape(-1)), -1)], axis=1)
    shape = d.shape[-2:]
    return texts_by_row(rows, lambda row: evidence_text(
        domain, int(row[0]), row[1:].reshape(shape))).reshape(c.shape)


def with_evidence(domain: Domain, rounds: np.ndarray, choices: np.ndarray,
                  said: np.ndarray) -> np.ndarray:
    """``said`` (N, R) turn texts, each after the first opened by the evidence of the choice
    of the round before it (``rounds`` (N, R, K, F), ``choices`` (N, R-1) or more)."""
    out = np.array(said, dtype=object)
    if out.shape[1] > 1:
        seen = evidence_texts(domain, rounds[:, :out.shape[1] - 1],
                              np.asarray(choices)[:, :out.shape[1] - 1])
        out[:, 1:] = seen + " " + out[:, 1:]
    return out


def split_evidence(text: str) -> tuple[str, str]:
    """A turn's text as (evidence, the rest from the statement on); the evidence is empty
    when the turn has none or writes no statement."""
    head, start, rest = text.strip().partition(START)
    if not start:
        return "", text.strip()
    return head.strip(), start + rest


def evidence_agreement(domain: Domain, rounds: np.ndarray, choices: np.ndarray,
                       written: np.ndarray) -> np.ndarray:
    """How often a model reads the user's choice right: for each round r, the share of the N
    ``written`` (N, R) turn texts whose evidence is exactly that of the choice of round r-1
    (none in round 0), for the options ``rounds`` (N, R, K, F) and ``choices`` (N, R).
    Whether a model finds the evidence, apart from whether it moves its statement by it."""
    written = np.asarray(written, dtype=object)
    if written.shape != rounds.shape[:2]:
        raise ValueError(f"written must have shape {rounds.shape[:2]} (users, rounds), got "
                         f"{written.shape}")
    exact = np.full(written.shape, "", dtype=object)
    exact[:, 1:] = evidence_texts(domain, rounds[:, :-1], np.asarray(choices)[:, :-1])
    found = np.array([[split_evidence(str(t))[0] for t in row] for row in written],
                     dtype=object).reshape(written.shape)
    return (found == exact).mean(axis=0).astype(np.float64)
