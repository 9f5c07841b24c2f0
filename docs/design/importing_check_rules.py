"""Suggested additions to iwm_lab/importing/tables.py for the platform tables (not applied).

CHECK_RULES entries for every single-column CHECK of migration 0007; ROW_CHECKS names the
checks over several columns (or over a JSON value's length), which a column rule cannot mirror:
the importer leaves them to the database, which pins them to their row (writing.py), and
tests/test_import.py's test_every_check_constraint_is_validated_up_front should accept
``declared == mirrored | ROW_CHECKS[table]``.
"""

from iwm_lab.importing.conversion import Between, Matches, OneOf
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
from iwm_lab.models.quizzes import QUIZ_DIFFICULTIES, QUIZ_SOURCES
from iwm_lab.models.talent import APPLICATION_STATUSES, CASTING_CALL_STATUSES
from iwm_lab.models.values import CREDIT_ROLES, REGION_PATTERN

_REGION = Matches(REGION_PATTERN, "two upper-case letters (US, UK…)")
_POSITIVE = Between(1, 2**31 - 1)
_NOT_NEGATIVE = Between(0, 2**31 - 1)

PLATFORM_CHECK_RULES = {
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

# Checks over several columns, or over a JSON value: left to the database.
ROW_CHECKS = {
    "award_ceremonies": {"held_in_award_year_or_next"},
    "award_nominations": {"names_a_nominee"},
    "festival_editions": {"ends_after_start", "starts_in_year"},
    "box_office_grosses": {"week_includes_weekend", "updated_after_created"},
    "curated_lists": {"published_dated", "updated_after_created"},
    "featured_rails": {"ends_after_start", "updated_after_created"},
    "movie_similarities": {"not_self"},
    "quizzes": {"trivia_has_movie", "updated_after_created"},
    "quiz_questions": {"options_array", "answer_in_options"},
    "quiz_attempts": {
        "score_range",
        "finished_after_started",
        "scored_when_finished",
        "answers_array",
    },
    "talent_profiles": {"person_or_user", "updated_after_created"},
    "casting_calls": {"deadline_after_created", "updated_after_created"},
    "casting_applications": {"updated_after_created"},
    "content_reports": {"resolved_after_created", "resolved_when_closed"},
    "user_roles": {"revoked_after_granted"},
    "user_bans": {"ends_after_start", "lifted_after_start"},
    "audit_log": {"target_complete", "details_object"},
}

# JSON_SHAPES entries for the JSONB columns.
PLATFORM_JSON_SHAPES = {
    ("quiz_questions", "options"): "ARRAY_OF_STRINGS",
    ("quiz_attempts", "answers"): "ARRAY_OF_OBJECTS",
    ("audit_log", "details"): "OBJECT",
}
