"""The paper's protocol for many users at once: every user advances together, round by round.

The per-user path (``protocol.run_assistant`` with an ``LLMAssistant``) asks one user's N
held-out questions on top of that user's cached conversation: right for a CPU, where the
shared prefix saves most of the work, but a GPU then runs batches of one conversation. Here
round r of every user is one set of prompts: the U x N held-out questions (each distinct
prompt asked once: before any round all users see the same ones), then the U round
questions; whole prompts run in large batches, longest first. The answers are those of the
per-user path (tests hold them to it); only the batching differs.
"""

from __future__ import annotations

import numpy as np

from .. import chat
from ..evalset import EvalSet
from ..reference import recommend_from
from ..transcript import Transcript
from .assistant import LLMAssistant


def _answer_unique(assistant: LLMAssistant, texts: list[str], k: int,
                   given: list[str] | None = None) -> tuple[np.ndarray, list[str | None]]:
    """``assistant.answer_prompts`` asking each distinct (text, given statement) once."""
    keys = list(zip(texts, given or [None] * len(texts), strict=True))
    unique = list(dict.fromkeys(keys))
    probs, said = assistant.answer_prompts(
        [t for t, _ in unique], k, None if given is None else [g for _, g in unique])
    where = {key: i for i, key in enumerate(unique)}
    index = [where[key] for key in keys]
    return probs[index], [said[i] for i in index]


def run_together(assistant: LLMAssistant, evalset: EvalSet, users: np.ndarray,
                 transcript: Transcript) -> list[list[str]]:
    """Run ``users`` (indices into ``evalset``) through the protocol together, filling their
    rows of ``transcript`` and marking them completed; returns what each user's model wrote
    before its answer in each round (empty lists unless it writes: ``assistant.writes``).
    In given mode the statements before round r come from the choices of rounds 0..r-1
    only."""
    domain, k = evalset.domain, evalset.n_options
    n_users, n_heldout = len(users), evalset.n_heldout
    messages: list[list[chat.Message]] = [[] for _ in users]
    previous: list[tuple[int, int] | None] = [None] * n_users
    stated: list[list[str]] = [[] for _ in users]
    given = (assistant.given_statements(evalset.rounds[users], evalset.choices[users])
             if assistant.mode == "given" else None)  # (U, R+1)
    for r in range(evalset.n_rounds + 1):
        texts = [text for i in range(n_users)
                 for text in assistant.question_texts(messages[i], previous[i], evalset.heldout)]
        probs, _ = _answer_unique(assistant, texts, k, None if given is None else
                                  [s for s in given[:, r] for _ in range(n_heldout)])
        probs = probs.reshape(n_users, n_heldout, k)
        transcript.heldout_predictive[users, r] = probs
        transcript.heldout_recommendations[users, r] = recommend_from(probs)
        if assistant.progress is not None:
            assistant.progress(n_users * n_heldout)
        if r == evalset.n_rounds:
            break
        options = evalset.rounds[users, r]  # (U, K, F)
        texts = [assistant.question_texts(messages[i], previous[i], options[i][None])[0]
                 for i in range(n_users)]
        probs, said = _answer_unique(assistant, texts, k,
                                     None if given is None else list(given[:, r]))
        recs = recommend_from(probs)
        transcript.round_predictive[users, r] = probs
        transcript.round_recommendations[users, r] = recs
        for i, u in enumerate(users):
            rec, choice = int(recs[i]), int(evalset.choices[u, r])
            messages[i] += [
                {"role": "user", "content": chat.user_turn(domain, options[i], previous[i])},
                {"role": "assistant", "content": chat.answer(domain, rec, said[i])},
            ]
            previous[i] = (rec, choice)
            if assistant.writes:
                stated[i].append(said[i])
        if assistant.progress is not None:
            assistant.progress(n_users)
    transcript.completed[users] = True
    return stated
