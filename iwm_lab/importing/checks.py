"""What the CHECK constraints of the importable tables allow, as the importer applies them.

A CHECK on one column is mirrored as a rule (:data:`CHECK_RULES`), built from the same value
sets as the models, so that a bad value is reported with its column before the database sees
it. A CHECK over several columns, or over the length of a JSON value, is left to the database
(:data:`ROW_CHECKS`): ``iwm_lab.importing.writing`` pins each refused row to its line and
reports the columns and, in words, what the row must satisfy. ``tests/test_import.py`` fails
when a model gains a CHECK that is in neither. :data:`JSON_SHAPES` gives the shape each JSON
column documents.
"""

from __future__ import annotations

from dataclasses import dataclass

from iwm_lab.importing.conversion import Between, Matches, OneOf, Rule, Shape
from iwm_lab.models.awards import (
    AWARD_BODY_TYPES,
    AWARD_SUBJECTS,
    AWARD_YEAR_RANGE,
    FESTIVAL_SECTIONS,
    PREMIERE_TYPES,
)
from iwm_lab.models.box_office import CURRENCY_PATTERN
from iwm_lab.models.discovery import (
    CURATED_LIST_TYPES,
    RAIL_PLACEMENTS,
    RAIL_SOURCES,
    SIMILARITY_METHODS,
    SIMILARITY_RANGE,
)
from iwm_lab.models.moderation import (
    AUDIT_ACTION_PATTERN,
    BAN_SCOPES,
    MODERATION_ACTIONS,
    REPORT_REASONS,
    REPORT_STATUSES,
    REPORT_TARGET_TYPES,
    STAFF_ROLES,
    TABLE_NAME_PATTERN,
)
from iwm_lab.models.quizzes import QUIZ_DIFFICULTIES, QUIZ_OPTION_COUNT, QUIZ_SOURCES
from iwm_lab.models.talent import APPLICATION_STATUSES, CASTING_CALL_STATUSES
from iwm_lab.models.values import (
    CREDIT_ROLES,
    MOVIE_STATUSES,
    PERCENT_RANGE,
    PULSE_LINKED_TYPES,
    REGION_PATTERN,
    SCORE_RANGE,
    STREAMING_OPTION_TYPES,
    STREAMING_QUALITIES,
)

_REGION = Matches(REGION_PATTERN, "two upper-case letters (US, UK…)")
# ``column >= 1`` and ``column >= 0`` on an INTEGER column.
_POSITIVE = Between(1, 2**31 - 1)
_NOT_NEGATIVE = Between(0, 2**31 - 1)

# Per table: constraint name as given in the model (the database's is ck_<table>_<name>) →
# the column it guards and the rule.
CHECK_RULES: dict[str, dict[str, tuple[str, Rule]]] = {
    "movies": {
        "siddu_score_range": ("siddu_score", Between(*SCORE_RANGE)),
        "critics_score_range": ("critics_score", Between(*SCORE_RANGE)),
        "imdb_rating_range": ("imdb_rating", Between(*SCORE_RANGE)),
        "rotten_tomatoes_score_range": ("rotten_tomatoes_score", Between(*PERCENT_RANGE)),
        "status": ("status", OneOf(MOVIE_STATUSES)),
    },
    "movie_people": {"role": ("role", OneOf(CREDIT_ROLES))},
    "reviews": {"rating_range": ("rating", Between(*SCORE_RANGE))},
    "movie_streaming_options": {
        "type": ("type", OneOf(STREAMING_OPTION_TYPES)),
        "quality": ("quality", OneOf(STREAMING_QUALITIES)),
        "region_format": ("region", _REGION),
    },
    "pulses": {"linked_type": ("linked_type", OneOf(PULSE_LINKED_TYPES))},
    # The platform areas (migration 0008).
    "award_bodies": {
        "body_type": ("body_type", OneOf(AWARD_BODY_TYPES)),
        "country_format": ("country", _REGION),
    },
    "award_ceremonies": {
        "year_range": ("year", Between(*AWARD_YEAR_RANGE)),
        "edition_number_positive": ("edition_number", _POSITIVE),
    },
    "award_categories": {
        "subject": ("subject", OneOf(AWARD_SUBJECTS)),
        "credit_role": ("credit_role", OneOf(CREDIT_ROLES)),
    },
    "festivals": {
        "country_format": ("country", _REGION),
        "founded_year_range": ("founded_year", Between(*AWARD_YEAR_RANGE)),
    },
    "festival_editions": {
        "year_range": ("year", Between(*AWARD_YEAR_RANGE)),
        "edition_number_positive": ("edition_number", _POSITIVE),
    },
    "festival_selections": {
        "section": ("section", OneOf(FESTIVAL_SECTIONS)),
        "premiere": ("premiere", OneOf(PREMIERE_TYPES)),
    },
    "box_office_grosses": {
        "region_format": ("region", _REGION),
        "currency_format": ("currency", Matches(CURRENCY_PATTERN, "three upper-case letters")),
        "week_of_run_positive": ("week_of_run", _POSITIVE),
        "rank_positive": ("rank", _POSITIVE),
        "theaters_positive": ("theaters", _POSITIVE),
        "weekend_gross_not_negative": ("weekend_gross", Between(0, 2**63 - 1)),
    },
    "curated_lists": {"list_type": ("list_type", OneOf(CURATED_LIST_TYPES))},
    "curated_list_movies": {"position_positive": ("position", _POSITIVE)},
    "featured_rails": {
        "placement": ("placement", OneOf(RAIL_PLACEMENTS)),
        "source": ("source", OneOf(RAIL_SOURCES)),
        "region_format": ("region", _REGION),
        "position_positive": ("position", _POSITIVE),
    },
    "featured_rail_movies": {"position_positive": ("position", _POSITIVE)},
    "movie_similarities": {
        "score_range": ("score", Between(*SIMILARITY_RANGE)),
        "method": ("method", OneOf(SIMILARITY_METHODS)),
    },
    "quizzes": {
        "source": ("source", OneOf(QUIZ_SOURCES)),
        "difficulty": ("difficulty", OneOf(QUIZ_DIFFICULTIES)),
        "time_limit_positive": ("time_limit_seconds", _POSITIVE),
    },
    "quiz_questions": {
        "position_positive": ("position", _POSITIVE),
        "trivia_index_not_negative": ("trivia_index", _NOT_NEGATIVE),
    },
    "quiz_attempts": {"question_count_positive": ("question_count", _POSITIVE)},
    "talent_profiles": {
        "primary_role": ("primary_role", OneOf(CREDIT_ROLES)),
        "region_format": ("region", _REGION),
    },
    "casting_calls": {
        "role": ("role", OneOf(CREDIT_ROLES)),
        "status": ("status", OneOf(CASTING_CALL_STATUSES)),
        "region_format": ("region", _REGION),
    },
    "casting_applications": {"status": ("status", OneOf(APPLICATION_STATUSES))},
    "content_reports": {
        "target_type": ("target_type", OneOf(REPORT_TARGET_TYPES)),
        "target_id_positive": ("target_id", _POSITIVE),
        "reason": ("reason", OneOf(REPORT_REASONS)),
        "status": ("status", OneOf(REPORT_STATUSES)),
    },
    "moderation_actions": {
        "action": ("action", OneOf(MODERATION_ACTIONS)),
        "target_type": ("target_type", OneOf(REPORT_TARGET_TYPES)),
        "target_id_positive": ("target_id", _POSITIVE),
    },
    "user_roles": {"role": ("role", OneOf(STAFF_ROLES))},
    "user_bans": {"scope": ("scope", OneOf(BAN_SCOPES))},
    "audit_log": {
        "action_format": ("action", Matches(AUDIT_ACTION_PATTERN, "area.verb in lower case")),
        "target_table_format": ("target_table", Matches(TABLE_NAME_PATTERN, "a table name")),
    },
}


@dataclass(frozen=True)
class RowCheck:
    """A CHECK over several columns (or a JSON value's length): the columns a refused row
    shows, and what the row must satisfy, in words."""

    columns: tuple[str, ...]
    meaning: str


def _updated() -> RowCheck:
    return RowCheck(
        ("created_at", "updated_at"),
        "updated_at cannot be before created_at (which is the time of the import when the "
        "file does not give it)",
    )


def _after(start: str, end: str, *, strictly: bool = False) -> RowCheck:
    word = "after" if strictly else "at or after"
    return RowCheck((start, end), f"{end} must be {word} {start}")


# Per table: constraint name as given in the model → the row check. The database applies them;
# the importer names the row, its columns and the rule when one refuses a row.
ROW_CHECKS: dict[str, dict[str, RowCheck]] = {
    "award_ceremonies": {
        "held_in_award_year_or_next": RowCheck(
            ("year", "ceremony_date"), "the ceremony is held in its award year or the next"
        )
    },
    "award_nominations": {
        "names_a_nominee": RowCheck(
            ("movie_id", "person_id"), "a nomination names a movie, a person or both"
        )
    },
    "festival_editions": {
        "ends_after_start": _after("starts_on", "ends_on"),
        "starts_in_year": RowCheck(("year", "starts_on"), "an edition starts in its year"),
    },
    "box_office_grosses": {
        "week_includes_weekend": RowCheck(
            ("weekend_gross", "week_gross"), "the week's gross includes its weekend's"
        ),
        "updated_after_created": _updated(),
    },
    "curated_lists": {
        "published_dated": RowCheck(
            ("is_published", "published_at"), "a published list has its published_at"
        ),
        "updated_after_created": _updated(),
    },
    "featured_rails": {
        "ends_after_start": _after("starts_at", "ends_at", strictly=True),
        "updated_after_created": _updated(),
    },
    "movie_similarities": {
        "not_self": RowCheck(("movie_id", "similar_movie_id"), "a movie is not similar to itself")
    },
    "quizzes": {
        "trivia_has_movie": RowCheck(
            ("source", "movie_id"), "a quiz built from trivia names its movie"
        ),
        "updated_after_created": _updated(),
    },
    "quiz_questions": {
        "options_array": RowCheck(
            ("options",),
            f"options is a JSON array of {QUIZ_OPTION_COUNT[0]} to {QUIZ_OPTION_COUNT[1]} strings",
        ),
        "answer_in_options": RowCheck(
            ("answer_index", "options"), "answer_index is a position in options, from 0"
        ),
    },
    "quiz_attempts": {
        "score_range": RowCheck(("question_count", "score"), "score is 0 to question_count"),
        "finished_after_started": _after("started_at", "finished_at"),
        "scored_when_finished": RowCheck(
            ("finished_at", "score"), "a finished attempt has a score, an unfinished one none"
        ),
        "answers_array": RowCheck(
            ("question_count", "answers"),
            "answers is a JSON array of at most question_count answers",
        ),
    },
    "talent_profiles": {
        "person_or_user": RowCheck(
            ("person_id", "user_id"), "a profile names a person, a user or both"
        ),
        "updated_after_created": _updated(),
    },
    "casting_calls": {
        "deadline_after_created": _after("created_at", "deadline"),
        "updated_after_created": _updated(),
    },
    "casting_applications": {"updated_after_created": _updated()},
    "content_reports": {
        "resolved_after_created": _after("created_at", "resolved_at"),
        "resolved_when_closed": RowCheck(
            ("status", "resolved_at"),
            "resolved_at is set exactly when the status is actioned or dismissed",
        ),
    },
    "user_roles": {"revoked_after_granted": _after("created_at", "revoked_at")},
    "user_bans": {
        "ends_after_start": _after("starts_at", "ends_at", strictly=True),
        "lifted_after_start": _after("starts_at", "lifted_at"),
    },
    "audit_log": {
        "target_complete": RowCheck(
            ("target_table", "target_id"), "target_table and target_id go together"
        ),
        "details_object": RowCheck(("details",), "details is a JSON object"),
    },
}


# The JSON columns and the shape each documents; the TEXT ones are stored as text.
JSON_SHAPES: dict[tuple[str, str], Shape] = {
    ("movies", "trivia"): Shape.ARRAY_OF_OBJECTS,
    ("movies", "timeline"): Shape.ARRAY_OF_OBJECTS,
    ("reviews", "media_urls"): Shape.ARRAY_OF_STRINGS,
    ("pulses", "content_media"): Shape.ARRAY_OF_OBJECTS,
    ("pulses", "hashtags"): Shape.ARRAY_OF_STRINGS,
    ("pulses", "reactions_json"): Shape.OBJECT,
    ("quiz_questions", "options"): Shape.ARRAY_OF_STRINGS,
    ("quiz_attempts", "answers"): Shape.ARRAY_OF_OBJECTS,
    ("audit_log", "details"): Shape.OBJECT,
}
