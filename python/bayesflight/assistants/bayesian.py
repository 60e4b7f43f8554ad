"""The Bayesian assistant: exact Bayes over the hypothesis grid, on the C++ core."""

from __future__ import annotations

import numpy as np

from ..belief import Belief, HypothesisGrid, run_protocol
from ..evalset import EvalSet
from ..reference import ChoiceModel
from ..transcript import Transcript
from .base import Assistant


class BayesianAssistant(Assistant):
    """Keeps a posterior over every reward function of the grid and recommends the option most
    likely to be the user's choice (the paper's teacher).

    ``choice_model`` is the user model it assumes (the paper's: deterministic). Interactively
    it is one ``Belief``; :meth:`run_batch` runs a whole evaluation set in one core call.
    """

    name = "bayesian"

    def __init__(
        self, grid: HypothesisGrid | int = 4, choice_model: ChoiceModel = ChoiceModel(),
        n_threads: int = 0,
    ) -> None:
        self.grid = grid if isinstance(grid, HypothesisGrid) else HypothesisGrid(grid)
        self.choice_model = choice_model
        self.n_threads = n_threads
        self.reset()

    def reset(self, user_weights: np.ndarray | None = None) -> None:
        self.belief = Belief(self.grid, self.choice_model)

    def predict(self, options: np.ndarray) -> np.ndarray:
        return self.belief.predictive(options)

    def observe(self, options: np.ndarray, recommended: int, choice: int) -> None:
        self.belief.update(options, choice)

    def run_batch(self, evalset: EvalSet) -> Transcript:
        """The paper's protocol for every user of ``evalset`` at once, in the core."""
        if self.grid.n_features != evalset.domain.n_features:
            raise ValueError(f"the grid has {self.grid.n_features} features but the evaluation "
                             f"set's domain {evalset.domain.name} has "
                             f"{evalset.domain.n_features}")
        out = run_protocol(self.grid, evalset.user_weights, evalset.rounds, evalset.heldout,
                           choices=evalset.choices, choice_model=self.choice_model,
                           return_heldout_predictive=True, n_threads=self.n_threads)
        return Transcript(
            heldout_predictive=out.heldout_predictive,
            heldout_recommendations=out.heldout_recommendations,
            round_predictive=out.round_predictive,
            round_recommendations=out.round_recommendations,
            completed=np.ones(evalset.n_users, dtype=bool),
        )
