"""Closed value sets of the iwm schema, the single source for CHECK constraints and queries.

The seed documents most of these only in prose ("Status (released, upcoming, in-production)").
The models build their CHECK constraints from these tuples, so query code that validates a
parameter against the same tuple cannot drift from what the database accepts. The migration
spells the values out literally on purpose: a revision is a frozen snapshot and must not change
when this module does (a later change here needs a new revision).
"""

from __future__ import annotations

from collections.abc import Iterable

MOVIE_STATUSES: tuple[str, ...] = ("released", "upcoming", "in-production")

# movie_people.role; the seed describes people as "actors, directors, writers, producers",
# the last three are the crew roles iwm shows on a credits page.
CREDIT_ROLES: tuple[str, ...] = (
    "actor",
    "director",
    "writer",
    "producer",
    "composer",
    "cinematographer",
    "editor",
)

# watchlist.status: the seed documents only the default, 'want-to-watch'; the rest is the usual
# watchlist life cycle (designed here).
WATCHLIST_STATUSES: tuple[str, ...] = ("want-to-watch", "watching", "watched", "dropped")
WATCHLIST_PRIORITIES: tuple[str, ...] = ("low", "medium", "high")

FAVORITE_TYPES: tuple[str, ...] = ("movie", "person", "scene", "article")

PULSE_LINKED_TYPES: tuple[str, ...] = ("movie", "cricket")

TRENDING_CATEGORIES: tuple[str, ...] = ("movie", "cricket", "event", "general")
# Window labels and their length in days; refresh_trending_topics() in the migration knows the
# same two.
TRENDING_WINDOWS: tuple[str, ...] = ("7d", "30d")
TRENDING_WINDOW_DAYS: dict[str, int] = {"7d": 7, "30d": 30}

STREAMING_OPTION_TYPES: tuple[str, ...] = ("subscription", "rent", "buy", "free")
STREAMING_QUALITIES: tuple[str, ...] = ("SD", "HD", "4K")

# Two upper-case letters: ISO 3166-1 alpha-2, plus 'UK', which iwm uses instead of 'GB' and which
# the format admits anyway. A format check rather than a list, so a new market needs no migration.
REGION_PATTERN = "^[A-Z]{2}$"

# The score sources, in the order results list them: four published scores on movies, and
# users' review ratings.
SCORE_SOURCES: tuple[str, ...] = ("siddu", "critics", "imdb", "rotten_tomatoes", "users")
# How a sentence, a legend or a header names each source's score.
SCORE_NAMES: dict[str, str] = {
    "siddu": "Siddu score",
    "critics": "critics score",
    "imdb": "IMDb rating",
    "rotten_tomatoes": "Rotten Tomatoes score",
    "users": "mean user rating",
}

# Inclusive ranges of the scored columns.
SCORE_RANGE: tuple[int, int] = (0, 10)  # siddu_score, critics_score, imdb_rating, reviews.rating
PERCENT_RANGE: tuple[int, int] = (0, 100)  # rotten_tomatoes_score, watchlist.progress


def sql_in(column: str, values: Iterable[str]) -> str:
    """SQL text ``column IN ('a', 'b')`` for a CHECK constraint built from a value set.

    Only for the trusted module-level tuples above (they contain no quotes); never for input.
    """
    quoted = ", ".join("'" + value.replace("'", "''") + "'" for value in values)
    return f"{column} IN ({quoted})"


def sql_between(column: str, bounds: tuple[int, int]) -> str:
    """SQL text ``column BETWEEN lo AND hi`` for a CHECK constraint (NULL passes, as in SQL)."""
    low, high = bounds
    return f"{column} BETWEEN {low} AND {high}"
