"""The grid's three utility paths (odometer, blocked choices, digit table) against dot().

Bit for bit: every path must sum w . x from 0.0, feature 0 first, each product rounded on its
own; then a deterministic user whose weights are a grid row chooses exactly as that hypothesis
does. The values here are generic floats of mixed magnitude, so a sum in another order would
show up in the last bits.
"""

from __future__ import annotations

import numpy as np
from bayesflight import _core
from bayesflight import reference as ref
from bayesflight.belief import HypothesisGrid
from core_strategies import MAX_TEST_GRID
from hypothesis import given
from hypothesis import strategies as st


@st.composite
def float_grids(draw: st.DrawFn) -> HypothesisGrid:
    """A grid of 1..6 features over 2..16 distinct generic levels (0 sometimes among them)."""
    n_features = draw(st.integers(1, 6))
    max_levels = 2
    while max_levels < 16 and (max_levels + 1) ** n_features <= MAX_TEST_GRID:
        max_levels += 1
    n_levels = draw(st.integers(2, max_levels))
    levels = draw(st.lists(st.floats(-4.0, 4.0, allow_subnormal=False), min_size=n_levels,
                           max_size=n_levels, unique=True))
    if draw(st.booleans()):
        levels[0] = 0.0 if 0.0 not in levels else levels[0]
    return HypothesisGrid(n_features, levels)


def generic_options(seed: int, n_options: int, n_features: int) -> np.ndarray:
    """(K, F) options of mixed sign and magnitude (1e-3 to 1e3)."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n_options, n_features))
            * 10.0 ** rng.uniform(-3, 3, size=(n_options, n_features)))


def left_to_right(weights: np.ndarray, options: np.ndarray) -> np.ndarray:
    """u[h, k] = sum_f w[h, f] * x[k, f] summed from 0.0, feature 0 first: dot()'s order."""
    u = np.zeros((len(weights), len(options)))
    for f in range(weights.shape[1]):
        u = u + weights[:, f, None] * options[None, :, f]
    return u


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and np.array_equal(a.view(np.int64), b.view(np.int64))


@given(grid=float_grids(), n_options=st.sampled_from([2, 3, 4, 5, 7]),
       seed=st.integers(0, 2**32 - 1), data=st.data())
def test_every_utility_path_gives_the_bits_of_dot(grid: HypothesisGrid, n_options: int,
                                                  seed: int, data: st.DataObject) -> None:
    x = generic_options(seed, n_options, grid.n_features)
    begin = data.draw(st.integers(0, len(grid) - 1))
    end = data.draw(st.integers(begin + 1, len(grid)))
    dot = _core._grid_path(grid._core, x, "dot", begin, end)
    assert same_bits(dot, left_to_right(grid.weights[begin:end], x))
    for path in ("for_each", "scaled"):
        assert same_bits(_core._grid_path(grid._core, x, path, begin, end), dot), path
    choices = _core._grid_path(grid._core, x, "best_options", begin, end)
    np.testing.assert_array_equal(choices, ref.best_option(dot))


def test_the_examples_can_tell_summation_orders_apart() -> None:
    # the property above would pass vacuously if every order gave the same bits
    grid = HypothesisGrid(5, (-1.7, -0.3, 0.0, 0.9, 2.3))
    x = generic_options(0, 3, grid.n_features)
    forward = left_to_right(grid.weights, x)
    backward = left_to_right(grid.weights[:, ::-1], x[:, ::-1])
    assert not same_bits(forward, backward)
    assert same_bits(_core._grid_path(grid._core, x, "scaled", 0, len(grid)), forward)
