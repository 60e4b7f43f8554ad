"""A transcript of the paper's protocol: every prediction and recommendation an assistant made.

Kept apart from the protocol loop so that batched assistants can build one without importing it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields

import numpy as np

from .evalset import EvalSet
from .fileio import atomic_open


@dataclass
class Transcript:
    """What an assistant said during the protocol.

    heldout_predictive (U, R+1, N, K) and heldout_recommendations (U, R+1, N): on the held-out
    sets before any round (index 0) and after each round; round_predictive (U, R, K) and
    round_recommendations (U, R): in the rounds, before the user's choice; completed (U,):
    which users are done (a partial transcript can be resumed).
    """

    heldout_predictive: np.ndarray
    heldout_recommendations: np.ndarray
    round_predictive: np.ndarray
    round_recommendations: np.ndarray
    completed: np.ndarray

    @classmethod
    def empty(cls, evalset: EvalSet) -> Transcript:
        """A transcript for ``evalset`` with no user done yet."""
        u, r, k, n = evalset.n_users, evalset.n_rounds, evalset.n_options, evalset.n_heldout
        return cls(
            heldout_predictive=np.full((u, r + 1, n, k), np.nan),
            heldout_recommendations=np.full((u, r + 1, n), -1, dtype=np.int64),
            round_predictive=np.full((u, r, k), np.nan),
            round_recommendations=np.full((u, r), -1, dtype=np.int64),
            completed=np.zeros(u, dtype=bool),
        )

    def check_matches(self, evalset: EvalSet) -> None:
        """Raise ValueError unless every array has the shape ``evalset`` implies."""
        expected = Transcript.empty(evalset)
        for f in fields(self):
            got, want = getattr(self, f.name).shape, getattr(expected, f.name).shape
            if got != want:
                raise ValueError(f"transcript {f.name} has shape {got}; the evaluation set "
                                 f"needs {want}")

    def save(self, path: str | os.PathLike) -> None:
        """Write the transcript as a NumPy .npz archive, atomically (a checkpoint)."""
        with atomic_open(path, "wb") as handle:
            np.savez(handle, **{f.name: getattr(self, f.name) for f in fields(self)})

    @classmethod
    def load(cls, path: str | os.PathLike) -> Transcript:
        """Read a transcript written by :meth:`save`."""
        with np.load(path) as archive:
            missing = [f.name for f in fields(cls) if f.name not in archive]
            if missing:
                raise ValueError(f"{path} is not a transcript: it lacks {missing}")
            return cls(**{f.name: archive[f.name] for f in fields(cls)})
