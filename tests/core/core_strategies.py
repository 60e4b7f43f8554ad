"""Hypothesis strategies for the core's property tests: small grids and option sets with ties.

Values are small multiples of simple fractions, so distinct utilities differ by far more than
the 1e-9 tie tolerance while equal ones (in exact arithmetic) come out as exact or rounding
ties: no example sits on the tolerance's edge, where two correct summation orders could
disagree.
"""

from __future__ import annotations

import numpy as np
from bayesflight import HypothesisGrid
from bayesflight.reference import ChoiceModel
from hypothesis import strategies as st

MAX_TEST_GRID = 3000  # hypotheses, so that the NumPy reference stays fast

any_model = st.one_of(
    st.just(ChoiceModel()),
    st.floats(0.1, 10.0).map(lambda b: ChoiceModel("softmax", beta=b)),
    st.floats(0.01, 0.9).map(lambda e: ChoiceModel("epsilon", epsilon=e)),
)


@st.composite
def grids(draw: st.DrawFn, max_features: int = 6) -> HypothesisGrid:
    """A grid of 1..max_features features and 2..16 distinct levels, at most MAX_TEST_GRID rows."""
    n_features = draw(st.integers(1, max_features))
    max_levels = 2
    while max_levels < 16 and (max_levels + 1) ** n_features <= MAX_TEST_GRID:
        max_levels += 1
    n_levels = draw(st.integers(2, max_levels))
    scale = draw(st.sampled_from([4, 100]))
    values = draw(st.lists(st.integers(-2 * scale, 2 * scale), min_size=n_levels,
                           max_size=n_levels, unique=True))
    return HypothesisGrid(n_features, [v / scale for v in values])


@st.composite
def option_sets(draw: st.DrawFn, n_features: int, n_sets: int | None = None,
                max_options: int = 5) -> np.ndarray:
    """Option sets (N, K, F) with values on a 0.1 or 0.001 lattice, some options duplicated."""
    n = draw(st.integers(1, 6)) if n_sets is None else n_sets
    k = draw(st.integers(2, max_options))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    step = draw(st.sampled_from([10, 1000]))
    x = rng.integers(-step, step + 1, size=(n, k, n_features)) / step
    if draw(st.booleans()):  # duplicate an option in every set
        x[:, -1] = x[:, 0]
    return x
