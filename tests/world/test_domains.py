"""Domains: the released text of options, parsed back; levels and normalised values."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from bayesflight.domains import (
    DOMAIN_NAMES,
    FLIGHT,
    HOTEL,
    OptionParseError,
    flight_variant,
    get_domain,
)
from hypothesis import given, settings
from hypothesis import strategies as st

DOMAINS = [get_domain(name) for name in DOMAIN_NAMES]


@st.composite
def domain_and_levels(draw: st.DrawFn) -> tuple:
    domain = draw(st.sampled_from(DOMAINS))
    levels = [draw(st.integers(0, f.n_levels - 1)) for f in domain.features]
    return domain, np.array(levels)


@settings(max_examples=300, deadline=None)
@given(domain_and_levels(), st.integers(0, 8))
def test_text_round_trip(case: tuple, index: int) -> None:
    domain, levels = case
    x = domain.normalise(levels)
    assert np.array_equal(domain.levels(x), levels)
    assert np.array_equal(domain.parse(domain.describe(x)), x)
    line = domain.option_line(x, index)
    k, parsed = domain.parse_option_line(line)
    assert k == index and np.array_equal(parsed, x)
    assert line.startswith(f"{domain.noun.capitalize()} {index + 1}: ")


def test_flight_text_is_the_released_text() -> None:
    x = FLIGHT.normalise(np.array([5, 0, 1, 3]))
    assert FLIGHT.option_line(x, 0) == ("Flight 1: departure time: 02:00 PM, duration: 30 min, "
                                        "number of stops: 1, price: $370")
    assert FLIGHT.describe(FLIGHT.normalise(np.array([3, 7, 0, 1]))) == (
        "departure time: 10:48 AM, duration: 14 hr 9 min, number of stops: 0, price: $190")
    assert FLIGHT.feature_names == ["departure_time", "duration", "number_of_stops", "price"]
    assert FLIGHT.features[0].values[0] == "06:00 AM" and FLIGHT.features[0].values[-1] == (
        "10:00 PM")
    assert FLIGHT.features[1].values[1] == "2 hr 27 min" and FLIGHT.features[1].values[-1] == (
        "20 hr")
    assert FLIGHT.features[3].values[-1] == "$1000"
    assert list(FLIGHT.n_levels) == [11, 11, 3, 11]


def test_hotel_text_is_the_released_text() -> None:
    x = HOTEL.normalise(np.array([8, 8, 3, 2]))
    assert HOTEL.option_line(x, 0) == ("Hotel 1: distance to downtown: 8 miles, price: $820, "
                                       "rating: 4 stars, amenities: free parking and free "
                                       "breakfast")
    assert HOTEL.feature_names == ["distance_to_downtown", "price", "rating", "amenities"]
    assert HOTEL.describe(HOTEL.normalise(np.array([1, 0, 0, 4]))) == (
        "distance to downtown: 1 miles, price: $100, rating: 1 stars, amenities: free parking, "
        "free breakfast, pool, and fitness center")


def test_variants_extend_the_paper_features() -> None:
    assert flight_variant(4) is FLIGHT
    for f in range(2, 9):
        variant = flight_variant(f)
        assert variant.n_features == f
        assert variant.features[: min(f, 4)] == FLIGHT.features[: min(f, 4)]
    names = flight_variant(8).feature_names
    assert len(set(names)) == 8
    with pytest.raises(ValueError, match="n_features"):
        flight_variant(9)
    with pytest.raises(ValueError, match="domain must be one of"):
        get_domain("train")


@pytest.mark.parametrize("text", [
    "departure time: 02:00 PM, duration: 30 min, number of stops: 1",
    "departure time: 02:00 PM, duration: 30 min, number of stops: 3, price: $370",
    "departure time: 02:01 PM, duration: 30 min, number of stops: 1, price: $370",
    "departure time: 02:00 PM, duration: 30 min, number of stops: 1, price: $370, wifi: free",
    "price: $370, departure time: 02:00 PM, duration: 30 min, number of stops: 1",
    "departure time: 02:00 PM duration: 30 min, number of stops: 1, price: $370",
    "",
])
def test_text_that_does_not_parse_names_the_line(text: str) -> None:
    with pytest.raises(OptionParseError) as err:
        FLIGHT.parse(text)
    assert repr(text) in str(err.value)


@pytest.mark.parametrize("line", [
    "Hotel 1: departure time: 02:00 PM, duration: 30 min, number of stops: 1, price: $370",
    "Flight 0: departure time: 02:00 PM, duration: 30 min, number of stops: 1, price: $370",
    "Flight one: departure time: 02:00 PM, duration: 30 min, number of stops: 1, price: $370",
    "departure time: 02:00 PM, duration: 30 min, number of stops: 1, price: $370",
])
def test_option_line_that_does_not_parse_names_the_line(line: str) -> None:
    with pytest.raises(OptionParseError) as err:
        FLIGHT.parse_option_line(line)
    assert repr(line) in str(err.value)


@pytest.mark.parametrize("values", [
    [0.05, 0.0, 0.0, 0.0], [1.1, 0.0, 0.0, 0.0], [-0.1, 0.0, 0.0, 0.0],
    [np.nan, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0],
])
def test_off_grid_options_are_rejected(values: list) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NaN must be caught before any cast, not warned about
        with pytest.raises(ValueError, match="options must"):
            FLIGHT.describe(np.array(values))


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(DOMAINS), st.integers(0, 2**32 - 1))
def test_sample_lies_on_the_grid_and_covers_it(domain, seed: int) -> None:
    x = domain.sample(np.random.default_rng(seed), (400, 3))
    assert x.shape == (400, 3, domain.n_features)
    levels = domain.levels(x)
    assert np.array_equal(levels.min(axis=(0, 1)), np.zeros(domain.n_features))
    assert np.array_equal(levels.max(axis=(0, 1)), domain.n_levels - 1)


@settings(max_examples=100, deadline=None)
@given(domain=st.sampled_from(DOMAINS), k=st.integers(2, 6), seed=st.integers(0, 2**31 - 1),
       previous=st.sampled_from([None, (0, 0), (1, 0)]))
def test_a_question_parses_back_to_its_options(domain, k: int, seed: int, previous) -> None:
    from bayesflight import chat

    options = domain.sample(np.random.default_rng(seed), (k,))
    turn = chat.user_turn(domain, options, previous)
    np.testing.assert_array_equal(chat.parse_question(domain, turn), options)


@pytest.mark.parametrize("text, message", [
    ("Your option Flight 1 is correct.", "Which flight is the best option?"),
    ("Which flight is the best option?\n\nFlight 1:\n", "a label line and a feature line"),
    ("Which flight is the best option?\n\nFlight 2:\nx\nFlight 1:\ny", "'Flight 1':"),
])
def test_a_turn_without_a_question_is_refused(text: str, message: str) -> None:
    from bayesflight import chat

    with pytest.raises(OptionParseError, match=message):
        chat.parse_question(FLIGHT, text)
