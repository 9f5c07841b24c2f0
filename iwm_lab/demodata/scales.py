"""The three data scales, and the fixed date of the dataset behind the notebooks' outputs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

# The demo data is dated up to the moment it is generated (its ``as_of``, by default now), so
# the demo shows live data on any day. The notebooks' stored outputs, which nbval compares on
# every run, need the same rows on every day: they come from the tiny dataset (seed 42) dated
# up to this fixed instant, and the notebook tests pin ``as_of`` to it.
NOTEBOOK_AS_OF = datetime(2026, 11, 1)


@dataclass(frozen=True)
class Scale:
    """Row counts of one scale. Per-user and per-movie figures are means; heavy users and
    popular movies get many times more."""

    name: str
    movies: int
    people: int
    users: int
    scenes: int
    collections: int
    reviews: int
    pulses: int
    watchlist_per_user: float
    favorites_per_user: float
    follows_per_user: float
    options_per_movie: float
    movies_per_collection: float


SCALES: dict[str, Scale] = {
    scale.name: scale
    for scale in (
        Scale(
            name="tiny",
            movies=200,
            people=600,
            users=300,
            scenes=300,
            collections=40,
            reviews=4_000,
            pulses=2_000,
            watchlist_per_user=7.0,
            favorites_per_user=3.0,
            follows_per_user=5.0,
            options_per_movie=10.0,
            movies_per_collection=10.0,
        ),
        Scale(
            name="small",
            movies=5_000,
            people=12_000,
            users=10_000,
            scenes=6_000,
            collections=1_500,
            reviews=100_000,
            pulses=50_000,
            watchlist_per_user=6.0,
            favorites_per_user=2.5,
            follows_per_user=6.0,
            options_per_movie=10.0,
            movies_per_collection=12.0,
        ),
        Scale(
            name="large",
            movies=100_000,
            people=200_000,
            users=200_000,
            scenes=120_000,
            collections=30_000,
            reviews=5_000_000,
            pulses=2_000_000,
            watchlist_per_user=7.5,
            favorites_per_user=2.5,
            follows_per_user=7.5,
            options_per_movie=10.0,
            movies_per_collection=13.0,
        ),
    )
}


def get_scale(name: str) -> Scale:
    """The :class:`Scale` called ``name``; ``ValueError`` listing the valid names otherwise."""
    try:
        return SCALES[name]
    except (KeyError, TypeError):
        valid = ", ".join(SCALES)
        raise ValueError(f"unknown scale {name!r}; expected one of: {valid}") from None
