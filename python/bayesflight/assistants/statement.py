"""The assistant that acts on the Bayesian belief statement: the teacher of ``generate --scores``.

It keeps the exact posterior, but recommends only from what the Bayesian teacher says of it:
each feature's posterior mean weight in one of five buckets (``bayesflight.statements``), the
options scored with the bucket centres, written as whole points (``bayesflight.option_scores``),
the best total recommended, ties shared. This is the rule a model taught with option scores
imitates, so its curve is the ceiling of that teaching, and the gap to the Bayesian assistant
is what the statement's five words per feature lose.
"""

from __future__ import annotations

import numpy as np

from ..domains import Domain
from ..option_scores import terms, tied_best
from ..reference import ChoiceModel, hypothesis_grid
from ..statements import buckets, posterior_means
from .base import Assistant


class StatementAssistant(Assistant):
    """Recommends the option that the statement of the user's choices so far scores best."""

    name = "statement"

    def __init__(self, domain: Domain, choice_model: ChoiceModel = ChoiceModel()) -> None:
        self.domain, self.choice_model = domain, choice_model
        self.weights = hypothesis_grid(domain.n_features)
        self.reset()

    def reset(self, user_weights: np.ndarray | None = None) -> None:
        self._rounds: list[np.ndarray] = []
        self._choices: list[int] = []
        self.levels = np.zeros(self.domain.n_features, dtype=np.int64)  # nothing seen yet

    def predict(self, options: np.ndarray) -> np.ndarray:
        x = np.asarray(options, dtype=np.float64)
        return tied_best(terms(self.domain, self.levels, x).sum(axis=-1))

    def observe(self, options: np.ndarray, recommended: int, choice: int) -> None:
        self._rounds.append(np.asarray(options, dtype=np.float64))
        self._choices.append(int(choice))
        means = posterior_means(self.weights, np.stack(self._rounds)[None],
                                np.array([self._choices]), self.choice_model, final=True)
        self.levels = buckets(means[0, -1])
