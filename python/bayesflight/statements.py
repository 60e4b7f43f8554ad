"""Belief statements: the Bayesian teacher's current belief about a user, in one fixed sentence.

Belief-state teaching has the teacher say what it believes before it recommends:
``So far: departure time: no preference; duration: shorter (slight); number of stops: fewer
(strong); price: cheaper (strong).`` Each feature's word comes from its posterior mean
weight E[w_f], put in one of five buckets: |E[w_f]| < 0.2 is no preference, < 0.6 slight,
else strong, the sign choosing the feature's ``lower`` or ``higher`` word. Updating then
becomes a local step (the last statement and the user's latest choice give the next one), and
acting on a statement is a static rule: scoring the options with the bucket centres (0, 0.4,
0.8) recommends as well as the exact posterior does after a few rounds (``statement_weights``;
docs/results.md has the figures).

The statement holds no digit, so the answer's option number stays the last number of the turn.
Shapes: N dialogues, R rounds, M hypotheses, F features, K options.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .domains import Domain
from .reference import ChoiceModel, ImpossibleObservationError, hypothesis_grid, log_likelihood

SLIGHT, STRONG = 0.2, 0.6  # |E[w_f]| from which a preference is slight, strong
CENTRES = np.array([-0.8, -0.4, 0.0, 0.4, 0.8])  # the weight each bucket stands for
START = "So far: "  # how every statement begins
_CHUNK = 1024  # dialogues whose likelihoods are held at once (N x R x M x K floats)


def posterior_means(
    weights: np.ndarray, rounds: np.ndarray, choices: np.ndarray,
    choice_model: ChoiceModel = ChoiceModel(), final: bool = False,
) -> np.ndarray:
    """E[w] under the posterior before each round: (N, R, F), index r after rounds 0..r-1;
    with ``final`` also after the last round: (N, R+1, F) (R may then be 0).

    ``weights`` (M, F) is the hypothesis grid (uniform prior), ``rounds`` (N, R, K, F) the
    option sets, ``choices`` (N, R) the users' choices; Bayes' rule as in
    ``reference.update``, ties as its ``best_option``.
    """
    n, n_rounds = choices.shape
    out = np.empty((n, n_rounds + final, weights.shape[1]))
    for start in range(0, n, _CHUNK):
        x, c = rounds[start:start + _CHUNK], choices[start:start + _CHUNK]
        log_lik = log_likelihood(weights, x, choice_model)  # (n, R, M, K)
        chosen = np.take_along_axis(log_lik, c[:, :, None, None], axis=-1)[..., 0]  # (n, R, M)
        kept = chosen if final else chosen[:, :-1]
        log_post = np.concatenate([np.zeros((len(c), 1, len(weights))),
                                   np.cumsum(kept, axis=1)], axis=1)
        top = log_post.max(axis=-1, keepdims=True)
        if not np.isfinite(top).all():  # a choice no hypothesis allows: no posterior at all
            user, at = np.argwhere(~np.isfinite(top[..., 0]))[0]
            raise ImpossibleObservationError(
                f"dialogue {start + user}: the choices before round {at} leave no reward "
                f"function possible under the {choice_model.kind} choice model (the users "
                f"choose more noisily than it assumes)")
        p = np.exp(log_post - top)
        out[start:start + _CHUNK] = (p @ weights) / p.sum(axis=-1, keepdims=True)
    return out


def revealed_statements(
    domain: Domain, rounds: np.ndarray, choices: np.ndarray,
    choice_model: ChoiceModel = ChoiceModel(),
) -> np.ndarray:
    """The Bayesian teacher's statement before each round and after the last: an object array
    (N, R+1) of str, index r from the choices of rounds 0..r-1 only (``rounds`` (N, R, K, F),
    ``choices`` (N, R)); the sentences ``generate --statements`` writes, from the same
    posterior over the domain's hypothesis grid under ``choice_model``."""
    weights = hypothesis_grid(domain.n_features)
    return statements(domain, buckets(posterior_means(weights, rounds, choices, choice_model,
                                                      final=True)))


def buckets(means: np.ndarray) -> np.ndarray:
    """The bucket of each posterior mean weight (...): -2 (strong, lower) .. 2 (strong, higher).

    Means within 1e-9 of a threshold count as reaching it, so that the last bit of a float
    sum never moves a statement.
    """
    m = np.asarray(means, dtype=np.float64)
    size = np.where(np.abs(m) >= STRONG - 1e-9, 2, np.where(np.abs(m) >= SLIGHT - 1e-9, 1, 0))
    return (np.sign(np.where(size > 0, m, 0.0)) * size).astype(np.int64)


def statement(domain: Domain, levels: np.ndarray) -> str:
    """The sentence for one row of bucket ``levels`` (F,) in -2..2."""
    parts = []
    for feature, level in zip(domain.features, np.asarray(levels).tolist(), strict=True):
        if level == 0:
            parts.append(f"{feature.label}: no preference")
        else:
            word = feature.higher if level > 0 else feature.lower
            parts.append(f"{feature.label}: {word} ({'strong' if abs(level) == 2 else 'slight'})")
    return START + "; ".join(parts) + "."


def texts_by_row(rows: np.ndarray, write: Callable[[np.ndarray], str]) -> np.ndarray:
    """``write`` applied to each row of ``rows`` (N, ...): an object array (N,) of str, each
    distinct row written once (dialogues repeat statements and scores many times over)."""
    unique, inverse = np.unique(rows, axis=0, return_inverse=True)
    texts = np.empty(len(unique), dtype=object)
    texts[:] = [write(row) for row in unique]
    return texts[inverse.reshape(-1)]


def statements(domain: Domain, levels: np.ndarray) -> np.ndarray:
    """The sentences for bucket ``levels`` (..., F): an object array (...) of str, each distinct
    row written once."""
    flat = np.asarray(levels).reshape(-1, domain.n_features)
    return texts_by_row(flat, lambda row: statement(domain, row)).reshape(
        np.shape(levels)[:-1])


def parse_statement(domain: Domain, text: str) -> np.ndarray | None:
    """Inverse of :func:`statement`: the bucket levels (F,), or None if ``text`` is not one."""
    body = text.strip()
    if not (body.startswith(START) and body.endswith(".")):
        return None
    parts = body[len(START):-1].split("; ")
    if len(parts) != domain.n_features:
        return None
    out = np.zeros(domain.n_features, dtype=np.int64)
    for i, (feature, part) in enumerate(zip(domain.features, parts, strict=True)):
        head = f"{feature.label}: "
        if not part.startswith(head):
            return None
        rest = part[len(head):]
        choices = {"no preference": 0, f"{feature.lower} (slight)": -1,
                   f"{feature.lower} (strong)": -2, f"{feature.higher} (slight)": 1,
                   f"{feature.higher} (strong)": 2}
        if rest not in choices:
            return None
        out[i] = choices[rest]
    return out


def statement_weights(levels: np.ndarray) -> np.ndarray:
    """The weights (..., F) a statement stands for: each bucket's centre."""
    return CENTRES[np.asarray(levels) + 2]


def statement_agreement(
    domain: Domain, rounds: np.ndarray, choices: np.ndarray, stated: np.ndarray,
    choice_model: ChoiceModel = ChoiceModel(),
) -> tuple[np.ndarray, np.ndarray]:
    """How often a model's own statements are the Bayesian teacher's: for each round r, the
    share of the N users whose ``stated`` (N, R) statement in round r equals
    :func:`revealed_statements` from their choices of rounds 0..r-1; and, beside it, the
    share the most common exact statement of round r has (what writing one fixed sentence per
    round would match). Whether a model writes the update, apart from whether it acts on it.
    """
    stated = np.asarray(stated, dtype=object)
    if stated.shape != choices.shape:
        raise ValueError(f"stated must have shape {choices.shape} (users, rounds), got "
                         f"{stated.shape}")
    exact = revealed_statements(domain, rounds, choices, choice_model)[:, :choices.shape[1]]
    agree = (stated == exact).mean(axis=0).astype(np.float64)
    most_common = np.array([np.unique(column, return_counts=True)[1].max() / len(column)
                            for column in exact.T], dtype=np.float64)
    return agree, most_common
