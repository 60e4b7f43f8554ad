"""Assistants: the Bayesian teacher, the oracle and baselines, all behind one interface."""

from __future__ import annotations

from ..belief import HypothesisGrid
from ..domains import Domain
from ..reference import ChoiceModel
from .base import Assistant
from .baselines import CheapestAssistant, PriorMajorityAssistant, RandomAssistant
from .bayesian import BayesianAssistant
from .oracle import OracleAssistant
from .statement import StatementAssistant

ASSISTANT_NAMES = ("bayesian", "oracle", "random", "cheapest", "prior-majority", "statement")


def make_assistant(
    name: str,
    domain: Domain,
    *,
    choice_model: ChoiceModel = ChoiceModel(),
    seed: int = 0,
    grid: HypothesisGrid | None = None,
) -> Assistant:
    """The assistant called ``name`` (one of ASSISTANT_NAMES) for ``domain``.

    ``choice_model`` is the user model of the Bayesian and the statement assistants, ``seed``
    the random assistant's, ``grid`` the hypothesis grid (default: the domain's F-feature
    grid).
    """
    if name not in ASSISTANT_NAMES:
        raise ValueError(f"assistant must be one of {', '.join(ASSISTANT_NAMES)}; got {name!r}")
    if name == "oracle":
        return OracleAssistant()
    if name == "random":
        return RandomAssistant(seed)
    if name == "cheapest":
        return CheapestAssistant(domain)
    if name == "statement":
        return StatementAssistant(domain, choice_model)
    grid = HypothesisGrid(domain.n_features) if grid is None else grid
    if name == "bayesian":
        return BayesianAssistant(grid, choice_model)
    return PriorMajorityAssistant(grid)


__all__ = ["ASSISTANT_NAMES", "Assistant", "BayesianAssistant", "CheapestAssistant",
           "OracleAssistant", "PriorMajorityAssistant", "RandomAssistant", "StatementAssistant",
           "make_assistant"]
