"""The paper's first transfer domain: hotels."""

from __future__ import annotations

from .base import Domain, Feature

HOTEL = Domain(
    "hotel",
    "hotel",
    (
        Feature("distance_to_downtown", "distance to downtown",
                tuple(f"{i} miles" for i in range(11)), "closer", "farther"),
        Feature("price", "price", tuple(f"${100 + 90 * i}" for i in range(11)), "cheaper",
                "pricier"),
        Feature("rating", "rating", tuple(f"{i} stars" for i in range(1, 6))),
        Feature("amenities", "amenities", (
            "no amenities",
            "free parking",
            "free parking and free breakfast",
            "free parking, free breakfast, and pool",
            "free parking, free breakfast, pool, and fitness center",
        ), "fewer", "more"),
    ),
)
