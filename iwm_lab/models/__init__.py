"""The iwm schema as SQLAlchemy 2.0 typed models, one module per domain.

Import models from here (``from iwm_lab.models import Movie``): importing this package
registers every table on ``Base.metadata``, which Alembic compares against the database.
"""

from __future__ import annotations

import re
from typing import Any

from iwm_lab.models.awards import (
    AwardBody,
    AwardCategory,
    AwardCeremony,
    AwardNomination,
    Festival,
    FestivalEdition,
    FestivalSelection,
)
from iwm_lab.models.base import Base
from iwm_lab.models.box_office import BoxOfficeGross
from iwm_lab.models.catalog import Genre, Movie, MovieGenre, MoviePerson, Person, Scene
from iwm_lab.models.discovery import (
    CuratedList,
    CuratedListMovie,
    FeaturedRail,
    FeaturedRailMovie,
    MovieSimilarity,
)
from iwm_lab.models.moderation import (
    AuditLogEntry,
    ContentReport,
    ModerationAction,
    UserBan,
    UserRole,
)
from iwm_lab.models.quizzes import Quiz, QuizAttempt, QuizQuestion
from iwm_lab.models.social import Pulse, TrendingTopic, UserFollow
from iwm_lab.models.streaming import MovieStreamingOption, StreamingPlatform
from iwm_lab.models.talent import CastingApplication, CastingCall, TalentProfile
from iwm_lab.models.users import (
    Collection,
    CollectionMovie,
    Favorite,
    Review,
    User,
    WatchlistEntry,
)
from iwm_lab.models.values import (
    CREDIT_ROLES,
    FAVORITE_TYPES,
    MOVIE_STATUSES,
    PERCENT_RANGE,
    PULSE_LINKED_TYPES,
    REGION_PATTERN,
    SCORE_RANGE,
    STREAMING_OPTION_TYPES,
    STREAMING_QUALITIES,
    TRENDING_CATEGORIES,
    TRENDING_WINDOW_DAYS,
    TRENDING_WINDOWS,
    WATCHLIST_PRIORITIES,
    WATCHLIST_STATUSES,
)

# The tables the migrations create without models: the partitioned twins and their partitions
# (reviews_p2031, the seed's reviews_2024, pulses_p2025_03, ..._default), the bookkeeping of
# the rollups and of the trending refresh (rollup_refreshes, trending_refreshes, the change log
# rollup_changes and score_counts' histogram movie_score_counts), and the rollups stored as
# tables since migration 0006 (iwm_lab.rollups.TABLE_ROLLUPS; the others are materialized
# views, which Alembic does not compare). Migration 0006 defines them, and
# migrate.HEAD_OBJECTS records their columns and indexes for ``iwm-lab db check``. Exact shapes
# rather than prefixes, so a future real table such as "reviews_photos" is not hidden.
_UNMODELLED_TABLE = re.compile(
    r"^(?:reviews_(?:partitioned(?:_default)?|p?\d{4})"
    r"|pulses_p(?:artitioned(?:_default)?|\d{4}_\d{2})"
    r"|rollup_refreshes|trending_refreshes|rollup_changes|movie_score_counts"
    r"|movie_review_stats|movie_scores|pulse_hours|pulse_tag_hours|review_daily_stats"
    r"|score_counts)$"
)


def is_unmodelled_table(name: str | None) -> bool:
    """Whether a table is one the migrations manage without a model (twins, rollup records,
    the change log, the rollups stored as tables)."""
    return name is not None and _UNMODELLED_TABLE.match(name) is not None


def include_object(
    object: Any,  # the keyword name Alembic passes it by
    name: str | None,
    type_: str,
    reflected: bool,
    compare_to: Any,
) -> bool:
    """Alembic ``include_object`` hook: leave the partitioned twins out of autogenerate.

    ``reviews_partitioned``/``pulses_partitioned`` and their partitions exist only in the
    database (created by revision 0001), so without this hook autogenerate would propose
    dropping them. Pass it to ``context.configure(include_object=...)`` in env.py and to
    every ``compare_metadata`` check.
    """
    if type_ == "table":
        return not is_unmodelled_table(name)
    # Indexes and constraints go with their table.
    table = getattr(object, "table", None)
    return table is None or not is_unmodelled_table(getattr(table, "name", None))


__all__ = [
    "CREDIT_ROLES",
    "FAVORITE_TYPES",
    "MOVIE_STATUSES",
    "PERCENT_RANGE",
    "PULSE_LINKED_TYPES",
    "REGION_PATTERN",
    "SCORE_RANGE",
    "STREAMING_OPTION_TYPES",
    "STREAMING_QUALITIES",
    "TRENDING_CATEGORIES",
    "TRENDING_WINDOWS",
    "TRENDING_WINDOW_DAYS",
    "WATCHLIST_PRIORITIES",
    "WATCHLIST_STATUSES",
    "AuditLogEntry",
    "AwardBody",
    "AwardCategory",
    "AwardCeremony",
    "AwardNomination",
    "Base",
    "BoxOfficeGross",
    "CastingApplication",
    "CastingCall",
    "Collection",
    "CollectionMovie",
    "ContentReport",
    "CuratedList",
    "CuratedListMovie",
    "Favorite",
    "FeaturedRail",
    "FeaturedRailMovie",
    "Festival",
    "FestivalEdition",
    "FestivalSelection",
    "Genre",
    "ModerationAction",
    "Movie",
    "MovieGenre",
    "MoviePerson",
    "MovieSimilarity",
    "MovieStreamingOption",
    "Person",
    "Pulse",
    "Quiz",
    "QuizAttempt",
    "QuizQuestion",
    "Review",
    "Scene",
    "StreamingPlatform",
    "TalentProfile",
    "TrendingTopic",
    "User",
    "UserBan",
    "UserFollow",
    "UserRole",
    "WatchlistEntry",
    "include_object",
    "is_unmodelled_table",
]
