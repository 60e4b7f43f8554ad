"""The paper's evaluation protocol: rounds of recommendation and feedback, scored on held-out sets.

Per user: the assistant starts afresh; before any round and after each round it predicts on
all N held-out sets at once; in each round it predicts on the round's K options, recommends
one, and is told the option the user prefers. Held-out predictions never enter the
conversation. Shapes: U users, R rounds, N held-out sets, K options.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields

import numpy as np
from tqdm import tqdm

from .assistants.base import Assistant
from .evalset import EvalSet
from .reference import recommend_from
from .transcript import Transcript

PROBABILITY_SUM_TOL = 1e-6

__all__ = ["Transcript", "run_assistant"]


def _ask(assistant: Assistant, options: np.ndarray, own_recommend: bool) -> tuple[
    np.ndarray, np.ndarray
]:
    """The assistant's predictive (..., K) on ``options`` (..., K, F) and its recommendation.

    The recommendation is the predictive's argmax unless the assistant overrides
    ``recommend``; only then is it asked twice (an LLM is not run twice for nothing).
    """
    probs = np.asarray(assistant.predict(options), dtype=np.float64)
    if probs.shape != options.shape[:-1]:
        raise ValueError(f"{assistant.name}.predict returned shape {probs.shape} for options "
                         f"{options.shape}; expected {options.shape[:-1]}")
    if not (np.all(probs >= 0) and np.all(np.abs(probs.sum(-1) - 1) < PROBABILITY_SUM_TOL)):
        raise ValueError(f"{assistant.name}.predict must return probabilities summing to 1")
    rec = assistant.recommend(options) if own_recommend else recommend_from(probs)
    return probs, np.asarray(rec, dtype=np.int64)


def run_assistant(
    assistant: Assistant,
    evalset: EvalSet,
    progress: bool = True,
    on_user: Callable[[int, Transcript], None] | None = None,
    resume: Transcript | None = None,
) -> Transcript:
    """Run the paper's protocol for ``assistant`` on every user of ``evalset``.

    An assistant with ``run_batch(evalset)`` (the Bayesian one) runs all users in one call.
    Otherwise users run one at a time with a progress bar (shown after a second);
    ``on_user(u, transcript)`` is called after each user (e.g. to save a checkpoint), and
    ``resume``, a partial transcript, skips the users it has completed.
    """
    run_batch = getattr(assistant, "run_batch", None)
    if callable(run_batch):
        return run_batch(evalset)
    transcript = Transcript.empty(evalset)
    if resume is not None:
        resume.check_matches(evalset)
        for f in fields(Transcript):
            getattr(transcript, f.name)[...] = getattr(resume, f.name)
    own_recommend = type(assistant).recommend is not Assistant.recommend
    todo = np.flatnonzero(~transcript.completed)
    for u in tqdm(todo, desc=assistant.name, unit="user", disable=not progress, delay=1.0):
        assistant.reset(evalset.user_weights[u] if assistant.knows_user else None)
        for r in range(evalset.n_rounds + 1):
            probs, rec = _ask(assistant, evalset.heldout, own_recommend)
            transcript.heldout_predictive[u, r], transcript.heldout_recommendations[u, r] = (
                probs, rec)
            if r == evalset.n_rounds:
                break
            options = evalset.rounds[u, r]
            probs, rec = _ask(assistant, options, own_recommend)
            transcript.round_predictive[u, r], transcript.round_recommendations[u, r] = (
                probs, rec)
            assistant.observe(options, int(rec), int(evalset.choices[u, r]))
        transcript.completed[u] = True
        if on_user is not None:
            on_user(int(u), transcript)
    return transcript
