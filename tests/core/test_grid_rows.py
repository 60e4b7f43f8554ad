"""``reference.grid_rows`` and ``grid_size``: the inverse and the size of the hypothesis grid."""

from __future__ import annotations

import numpy as np
import pytest
from bayesflight import reference as ref
from bayesflight.belief import HypothesisGrid


@pytest.mark.parametrize(("n_features", "levels"), [
    (1, ref.DEFAULT_LEVELS), (4, ref.DEFAULT_LEVELS), (3, (2.0, -1.0, 0.0)), (2, (1.0, 3.0)),
])
def test_every_row_maps_back_to_its_index(n_features: int, levels: tuple[float, ...]) -> None:
    weights = np.asarray(HypothesisGrid(n_features, levels).weights)
    assert len(weights) == ref.grid_size(n_features, levels)
    np.testing.assert_array_equal(ref.grid_rows(weights, levels), np.arange(len(weights)))
    assert ref.grid_rows(weights[-1], levels).shape == ()
    np.testing.assert_array_equal(ref.grid_rows(weights.reshape(-1, 1, n_features), levels),
                                  np.arange(len(weights))[:, None])


@pytest.mark.parametrize(("weights", "match"), [
    ([0.0, 0.0, 0.0, 0.0], "all zero"), ([0.3, 0.0, 0.0, 1.0], "values from"), (1.0, "shape"),
])
def test_weights_off_the_grid_are_refused(weights, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ref.grid_rows(np.array(weights))
