"""The paper's flight domain, and its variants with 2 to 8 features for scaling studies."""

from __future__ import annotations

from .base import Domain, Feature


def _clock(minutes: int) -> str:
    hour, minute = divmod(minutes, 60)
    return f"{(hour - 1) % 12 + 1:02d}:{minute:02d} {'AM' if hour < 12 else 'PM'}"


def _duration(minutes: int) -> str:
    hours, minute = divmod(minutes, 60)
    parts = ([f"{hours} hr"] if hours else []) + ([f"{minute} min"] if minute else [])
    return " ".join(parts)


DEPARTURE = Feature("departure_time", "departure time",
                    tuple(_clock(360 + 96 * i) for i in range(11)), "earlier", "later")
DURATION = Feature("duration", "duration", tuple(_duration(30 + 117 * i) for i in range(11)),
                   "shorter", "longer")
STOPS = Feature("number_of_stops", "number of stops", ("0", "1", "2"), "fewer", "more")
PRICE = Feature("price", "price", tuple(f"${100 + 90 * i}" for i in range(11)),
                "cheaper", "pricier")

# Beyond the paper's four: attributes travellers weigh, each with a natural grid.
CHECKED_BAGS = Feature("checked_bags", "checked bags included", ("0", "1", "2"), "fewer",
                       "more")
LEGROOM = Feature("legroom", "legroom", tuple(f"{28 + i} in" for i in range(7)), "less", "more")
ON_TIME = Feature("on_time_rate", "on-time rate", tuple(f"{60 + 10 * i}%" for i in range(5)))
WIFI = Feature("wifi", "wifi", ("none", "paid", "free"), "less", "more")

FLIGHT_FEATURES = (DEPARTURE, DURATION, STOPS, PRICE, CHECKED_BAGS, LEGROOM, ON_TIME, WIFI)

FLIGHT = Domain("flight", "flight", FLIGHT_FEATURES[:4])


def flight_variant(n_features: int) -> Domain:
    """Flights described by the first ``n_features`` (2 to 8) of FLIGHT_FEATURES."""
    if not 2 <= n_features <= len(FLIGHT_FEATURES):
        raise ValueError(f"n_features must be in 2..{len(FLIGHT_FEATURES)}, got {n_features}")
    if n_features == 4:
        return FLIGHT
    return Domain(f"flight-{n_features}", "flight", FLIGHT_FEATURES[:n_features])
