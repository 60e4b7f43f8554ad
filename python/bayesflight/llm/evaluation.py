"""One language model through the paper's protocol, checkpointed after every user.

Both ``bayesflight evaluate`` and ``bayesflight reproduce`` evaluate through this function, so a
killed evaluation continues where it stopped and gives the numbers an uninterrupted one would.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..devices import DTYPE_ALIASES
from ..evalset import EvalSet
from ..fileio import write_json
from ..protocol import run_assistant
from ..transcript import Transcript


@dataclass(frozen=True)
class LLMRun:
    """The transcript of one evaluated model and how it ran."""

    transcript: Transcript
    device: str
    dtype: str
    parse_failure_rate: float | None
    n_parse_failures: int
    n_generated: int
    users_at_once: int = 1
    statements: dict[int, list[str]] | None = None  # what each user's model wrote, by round
    statements_exact: dict[str, list[float]] | None = None  # belief: statements_agreement
    scores_exact: list[float] | None = None  # scores: option_scores.scores_agreement by round
    evidence_exact: list[float] | None = None  # belief with evidence: evidence_agreement
    # the same by feature (label -> by round): evidence_agreement_by_feature
    evidence_exact_by_feature: dict[str, list[float]] | None = None
    seconds: float = 0.0  # the protocol's wall time, without loading the model
    questions: int = 0  # questions asked in that time (a resumed run skips finished users)


def _saved_transcript(checkpoint: Path, run_key: dict[str, Any]) -> Transcript | None:
    """The saved partial transcript, if there is one and the same run made it."""
    if not checkpoint.exists():
        return None
    saved = json.loads(checkpoint.with_suffix(".json").read_text(encoding="utf-8"))
    if "dtype" in saved:  # runs of earlier releases recorded the long names (bfloat16)
        saved["dtype"] = DTYPE_ALIASES.get(saved["dtype"], saved["dtype"])
    if saved != run_key:
        changed = sorted(k for k in run_key if saved.get(k) != run_key[k])
        raise ValueError(f"resume: {checkpoint} comes from a run with other {changed}; "
                         f"start afresh or use another output directory")
    return Transcript.load(checkpoint)


def statements_agreement(evalset: EvalSet, stated: dict[int, list[str]]) -> dict[str, list[float]]:
    """Belief mode: by round, the share of users whose own statement is the Bayesian teacher's
    (``statements.statement_agreement``, under the users' choice model) as ``model``, and the
    most common exact statement's share as ``most_common``. Only the statement of a written
    turn counts (``option_scores.split_turn``: not the scores after it)."""
    from ..option_scores import split_turn
    from ..statements import statement_agreement

    said = np.array([[split_turn(text)[0] for text in stated[u]]
                     for u in range(evalset.n_users)], dtype=object)
    agree, most_common = statement_agreement(evalset.domain, evalset.rounds, evalset.choices,
                                             said, evalset.user_model)
    return {"model": [float(a) for a in agree], "most_common": [float(m) for m in most_common]}


def _written(evalset: EvalSet, written: dict[int, list[str]]) -> np.ndarray:
    """The texts written by each user's assistant in each round: (users, rounds) object."""
    return np.array([written[u] for u in range(evalset.n_users)], dtype=object)


def _scores_exact(evalset: EvalSet, written: dict[int, list[str]]) -> list[float]:
    """With scores: by round, the share of users whose written scores are exactly those of
    the statement before them (``option_scores.scores_agreement``)."""
    from ..option_scores import scores_agreement

    return [float(a) for a in scores_agreement(evalset.domain, evalset.rounds,
                                               _written(evalset, written))]


def _evidence_exact(evalset: EvalSet, written: dict[int, list[str]],
                    form: str) -> tuple[list[float], dict[str, list[float]]]:
    """Belief mode with evidence in ``form``: by round, the share of users whose written
    evidence is exactly that of their last choice (``evidence.evidence_agreement``), and the
    same for each feature, by label (``evidence.evidence_agreement_by_feature``)."""
    from ..evidence import evidence_agreement, evidence_agreement_by_feature

    args = (evalset.domain, evalset.rounds, evalset.choices, _written(evalset, written), form)
    by_feature = evidence_agreement_by_feature(*args)
    return ([float(a) for a in evidence_agreement(*args)],
            {f.label: [float(a) for a in row]
             for f, row in zip(evalset.domain.features, by_feature, strict=True)})


def evaluate_llm(
    evalset: EvalSet,
    out_dir: str | Path,
    name: str,
    model: str,
    adapter: str | None = None,
    run_key: dict[str, Any] | None = None,
    resume: bool = False,
    mode: str = "score",
    scores: bool = False,
    evidence: str | None = None,
    device: str = "auto",
    dtype: str = "auto",
    batch_size: int = 16,
    max_new_tokens: int = 32,
    progress: bool = True,
    users_at_once: int = 0,
) -> LLMRun:
    """Run ``model`` (with ``adapter``) through the protocol on ``evalset``.

    ``users_at_once`` users advance together (``llm.together``; prompts of all of them in
    one batch of ``batch_size``), or one at a time on a cached conversation with 1; 0 picks
    64 on a GPU and 1 elsewhere. The answers are the same either way.

    The transcript is saved to ``out_dir/<name>.transcript.npz`` after every user (or group
    of users), beside ``run_key`` (what must match for a resumed run to continue it; by
    default the model, adapter and mode). With ``resume``, users already in a matching saved
    transcript are skipped. In belief mode the model's statements go to
    ``<name>.statements.json``; in given mode the statements put before its answers are the
    Bayesian teacher's under the evaluation users' choice model (``evalset.user_model``).
    With ``scores`` (belief or given mode) the model writes its option scores after the
    statement; they go to the same file, and ``scores_exact`` says how often they were right.
    With ``evidence`` (a form of ``evidence.FORMS``) each turn after the first opens with the
    evidence of the user's last choice, the model's own in belief mode (``evidence_exact``
    says how often it was right), the exact one before the given statement in given mode.
    """
    from tqdm import tqdm

    from .assistant import LLMAssistant
    from .models import load_model
    from .scoring import PrefixScorer
    from .together import run_together

    if not isinstance(users_at_once, int) or users_at_once < 0:
        raise ValueError(f"users_at_once must be a non-negative integer, got {users_at_once!r}")
    out = Path(out_dir)
    checkpoint = out / f"{name}.transcript.npz"
    key = run_key if run_key is not None else {"model": model, "adapter": adapter, "mode": mode}
    if scores:  # a run that scored is no run that did not
        key = {**key, "scores": True}
    if evidence:
        key = {**key, "evidence": evidence}
    saved = _saved_transcript(checkpoint, key) if resume else None
    lm, tokenizer = load_model(model, adapter=adapter, device=device, dtype=dtype)
    on_gpu = next(lm.parameters()).device.type == "cuda"
    together = users_at_once or (64 if on_gpu else 1)
    scorer = (PrefixScorer(lm, batch_size=batch_size, shared_prefix=False) if together > 1
              else None)
    assistant = LLMAssistant(lm, tokenizer, domain=evalset.domain, mode=mode,
                             batch_size=batch_size, max_new_tokens=max_new_tokens, name=name,
                             scorer=scorer, choice_model=evalset.user_model, scores=scores,
                             evidence=evidence)
    done = 0 if saved is None else int(saved.completed.sum())
    per_user = (evalset.n_rounds + 1) * evalset.n_heldout + evalset.n_rounds
    bar = tqdm(total=evalset.n_users * per_user, initial=done * per_user, unit="question",
               desc=name, disable=not progress, dynamic_ncols=True)
    assistant.progress = bar.update
    out.mkdir(parents=True, exist_ok=True)
    write_json(checkpoint.with_suffix(".json"), key)
    said_file = out / f"{name}.statements.json"
    said: dict[int, list[str]] = {}
    if saved is not None and said_file.is_file():
        said = {int(u): s for u, s in json.loads(said_file.read_text(encoding="utf-8")).items()}

    def keep(transcript: Transcript) -> None:
        if assistant.writes:
            write_json(said_file, {str(u): s for u, s in sorted(said.items())})
        transcript.save(checkpoint)

    began = time.perf_counter()
    if together > 1:
        transcript = Transcript.empty(evalset) if saved is None else saved
        transcript.check_matches(evalset)
        todo = np.flatnonzero(~transcript.completed)
        for first in range(0, len(todo), together):
            users = todo[first:first + together]
            stated = run_together(assistant, evalset, users, transcript)
            said.update((int(u), s) for u, s in zip(users, stated, strict=True))
            keep(transcript)
    else:
        def on_user(u: int, transcript: Transcript) -> None:
            said[u] = list(assistant.stated)
            keep(transcript)

        transcript = run_assistant(assistant, evalset, progress=False, on_user=on_user,
                                   resume=saved)
    seconds = time.perf_counter() - began
    bar.close()
    parameter = next(lm.parameters())
    evidence_exact, evidence_by_feature = (
        _evidence_exact(evalset, said, evidence) if evidence and mode == "belief" else (None, None))
    return LLMRun(
        transcript=transcript,
        device=str(parameter.device),
        dtype=str(parameter.dtype).removeprefix("torch."),
        parse_failure_rate=assistant.parse_failure_rate if assistant.n_generated else None,
        n_parse_failures=assistant.n_parse_failures,
        n_generated=assistant.n_generated,
        users_at_once=together,
        statements=said if assistant.writes else None,
        statements_exact=statements_agreement(evalset, said) if mode == "belief" else None,
        scores_exact=_scores_exact(evalset, said) if scores else None,
        evidence_exact=evidence_exact,
        evidence_exact_by_feature=evidence_by_feature,
        seconds=seconds,
        questions=(evalset.n_users - done) * per_user,
    )
