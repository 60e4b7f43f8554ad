"""Recommendation domains: flights (the paper's task, 2 to 8 features) and hotels."""

from __future__ import annotations

from .base import Domain, Feature, OptionParseError
from .flight import FLIGHT, flight_variant
from .hotel import HOTEL

DOMAIN_NAMES = ("flight", "hotel", *(f"flight-{f}" for f in range(2, 9) if f != 4))


def get_domain(name: str) -> Domain:
    """A domain by name: ``flight``, ``hotel`` or ``flight-F`` for F in 2..8."""
    if name == "flight":
        return FLIGHT
    if name == "hotel":
        return HOTEL
    if name.startswith("flight-") and name[7:].isdigit() and 2 <= int(name[7:]) <= 8:
        return flight_variant(int(name[7:]))
    raise ValueError(f"domain must be one of {', '.join(DOMAIN_NAMES)}; got {name!r}")


__all__ = ["DOMAIN_NAMES", "FLIGHT", "HOTEL", "Domain", "Feature", "OptionParseError",
           "flight_variant", "get_domain"]
