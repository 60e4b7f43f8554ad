"""Held-out option sets: one test of equality as multisets, and rounds drawn to avoid them."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from bayesflight.domains import FLIGHT, HOTEL, get_domain
from bayesflight.heldout import draw_avoiding, heldout_clashes, heldout_sets, set_codes
from bayesflight.sampling import rng


def multiset(option_set: np.ndarray) -> tuple:
    return tuple(sorted(map(tuple, option_set.tolist())))


@pytest.mark.parametrize("domain", [get_domain("flight-2"), HOTEL])
def test_codes_are_equal_exactly_for_equal_multisets(domain) -> None:
    sets = domain.sample(np.random.default_rng(1), (300, 2))
    sets[100:] = sets[:200]  # some equal pairs
    sets[150:200] = sets[150:200, ::-1]  # some in the other order
    codes = [tuple(c) for c in set_codes(domain, sets).tolist()]
    for i, j in itertools.combinations(range(len(sets)), 2):
        assert (codes[i] == codes[j]) == (multiset(sets[i]) == multiset(sets[j]))


def test_clashes_are_found_in_any_option_order() -> None:
    heldout = heldout_sets(FLIGHT, 0, 20)
    rounds = FLIGHT.sample(np.random.default_rng(5), (4, 3, 3))
    rounds[2, 1] = heldout[7][::-1]
    rounds[0, 0] = heldout[0]
    rounds[3, 2] = heldout[19][[1, 2, 0]]
    expected = np.zeros((4, 3), dtype=bool)
    expected[2, 1] = expected[0, 0] = expected[3, 2] = True
    np.testing.assert_array_equal(heldout_clashes(FLIGHT, rounds, heldout), expected)


def test_clashes_agree_with_comparing_multisets() -> None:
    domain = get_domain("flight-2")
    sets = domain.sample(np.random.default_rng(3), (400, 5, 2))
    heldout = heldout_sets(domain, 0, 100, 2)
    forbidden = {multiset(s) for s in heldout}
    expected = np.array([[multiset(s) in forbidden for s in row] for row in sets])
    assert expected.sum() > 5
    np.testing.assert_array_equal(heldout_clashes(domain, sets, heldout), expected)


def test_draw_avoiding_redraws_clashes_from_the_same_stream_and_counts_them() -> None:
    # 2 features, 2 options: clashes are common enough to count.
    domain = get_domain("flight-2")
    heldout = heldout_sets(domain, 1, 100, 2)
    sets, redrawn = draw_avoiding(domain, rng(1, "train_rounds"), (300, 5, 2), heldout)
    plain = domain.sample(rng(1, "train_rounds"), (300, 5, 2))
    clashed = heldout_clashes(domain, plain, heldout)
    assert sets.shape == (300, 5, 2, 2) and redrawn >= clashed.sum() > 0
    assert not heldout_clashes(domain, sets, heldout).any()
    np.testing.assert_array_equal(sets[~clashed], plain[~clashed])  # the rest are untouched
    again = draw_avoiding(domain, rng(1, "train_rounds"), (300, 5, 2), heldout)
    np.testing.assert_array_equal(again[0], sets)
    assert again[1] == redrawn


@pytest.mark.parametrize("heldout", [np.zeros((0, 2, 2)), heldout_sets(get_domain("flight-2"),
                                                                        1, 100, 3)])
def test_nothing_is_redrawn_without_held_out_sets_of_the_rounds_size(heldout) -> None:
    domain = get_domain("flight-2")
    sets, redrawn = draw_avoiding(domain, rng(1, "train_rounds"), (300, 5, 2), heldout)
    assert redrawn == 0
    np.testing.assert_array_equal(sets, domain.sample(rng(1, "train_rounds"), (300, 5, 2)))
