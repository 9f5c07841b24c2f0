"""Rows of the platform tables (migration 0008) for the import tests.

``PLATFORM_REFERENCE_SQL`` adds one parent row of each kind to the reference rows of
``tests/test_import.py`` (users 1 and 2, movies 1 to 3, people 1 and 2); ``PLATFORM_FILES``
holds, per platform table, a good file's records, which reference those rows, and a query with
what the table then holds.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

Record = dict[str, Any]

PLATFORM_REFERENCE_SQL = """
insert into award_bodies (id, external_id, name, body_type, country)
    values (1, 'ab1', 'Academy', 'academy', 'US');
insert into award_ceremonies (id, award_body_id, year, edition_number, ceremony_date)
    values (1, 1, 2023, 96, '2024-03-10');
insert into award_categories (id, award_body_id, name, subject, credit_role)
    values (1, 1, 'Best Picture', 'movie', null), (2, 1, 'Best Director', 'person', 'director');
insert into festivals (id, name, country, founded_year) values (1, 'Cannes', 'FR', 1946);
insert into festival_editions (id, festival_id, year, starts_on, ends_on)
    values (1, 1, 2024, '2024-05-14', '2024-05-25');
insert into curated_lists (id, title, list_type) values (1, 'Best of 2024', 'editorial');
insert into featured_rails (id, title, placement, position, source)
    values (1, 'Top picks', 'home', 1, 'editorial');
insert into quizzes (id, title, source) values (1, 'Dune quiz', 'editorial');
insert into quiz_questions (id, quiz_id, position, prompt, options, answer_index)
    values (1, 1, 1, 'Who directed it?', '["Denis", "Ridley", "Michael"]', 0);
insert into talent_profiles (id, person_id, display_name) values (1, 1, 'Denis');
insert into casting_calls (id, title, role) values (1, 'Lead', 'actor');
insert into content_reports (id, target_type, target_id, reason)
    values (1, 'review', 1, 'spam');
insert into moderation_actions (id, report_id, action, target_type, target_id)
    values (1, 1, 'hide', 'review', 1);
insert into user_roles (id, user_id, role) values (1, 1, 'moderator');
select setval(pg_get_serial_sequence(t, 'id'), 10)
    from unnest(array['award_bodies', 'award_ceremonies', 'award_categories', 'festivals',
                      'festival_editions', 'curated_lists', 'featured_rails', 'quizzes',
                      'quiz_questions', 'talent_profiles', 'casting_calls',
                      'content_reports', 'moderation_actions', 'user_roles']) as t;
"""

# Per table: the format of its file, its records, and a query with the rows it must then hold
# (the reference rows included where the query does not leave them out).
PLATFORM_FILES: dict[str, tuple[str, list[Record], str, list[tuple[Any, ...]]]] = {
    "award_bodies": (
        "csv",
        [{"external_id": "bafta", "name": "BAFTA", "body_type": "academy", "country": "UK"}],
        "select name, country from award_bodies order by id",
        [("Academy", "US"), ("BAFTA", "UK")],
    ),
    "award_ceremonies": (
        "csv",
        # Held in the year after its award year, as the 97th Academy Awards were.
        [{"award_body_id": 1, "year": 2024, "edition_number": 97, "ceremony_date": "2 Mar 2025"}],
        "select year, ceremony_date from award_ceremonies where id > 10",
        [(2024, date(2025, 3, 2))],
    ),
    "award_categories": (
        "csv",
        [{"award_body_id": 1, "name": "Best Actress", "subject": "person", "credit_role": "actor"}],
        "select name, credit_role from award_categories where id > 10",
        [("Best Actress", "actor")],
    ),
    "award_nominations": (
        "csv",
        [
            {"ceremony_id": 1, "category_id": 1, "movie_id": 1, "won": "yes"},
            {"ceremony_id": 1, "category_id": 2, "movie_id": 1, "person_id": 1, "won": "no"},
        ],
        "select category_id, movie_id, person_id, won from award_nominations order by id",
        [(1, 1, None, True), (2, 1, 1, False)],
    ),
    "festivals": (
        "csv",
        [{"name": "Berlinale", "city": "Berlin", "country": "DE", "founded_year": 1951}],
        "select name, founded_year from festivals where id > 10",
        [("Berlinale", 1951)],
    ),
    "festival_editions": (
        "csv",
        [
            {
                "festival_id": 1,
                "year": 2025,
                "edition_number": 78,
                "starts_on": "2025-05-13",
                "ends_on": "2025/05/24",
            }
        ],
        "select starts_on, ends_on from festival_editions where id > 10",
        [(date(2025, 5, 13), date(2025, 5, 24))],
    ),
    "festival_selections": (
        "csv",
        [
            {
                "edition_id": 1,
                "movie_id": 2,
                "section": "competition",
                "premiere": "world",
                "prize": "Palme d'Or",
            }
        ],
        "select movie_id, section, prize from festival_selections",
        [(2, "competition", "Palme d'Or")],
    ),
    "box_office_grosses": (
        # Parquet: typed dates, and a weekend past 2**31 in whole rupees.
        "parquet",
        [
            {
                "movie_id": 1,
                "region": "US",
                "weekend_start": date(2024, 3, 1),
                "week_of_run": 1,
                "rank": 1,
                "weekend_gross": 82_505_391,
                "week_gross": 100_102_003,
                "theaters": 4071,
                "currency": "USD",
            },
            {
                "movie_id": 1,
                "region": "IN",
                "weekend_start": date(2024, 3, 1),
                "week_of_run": 1,
                "rank": 2,
                "weekend_gross": 3_000_000_000,
                "week_gross": None,
                "theaters": 900,
                "currency": "INR",
            },
        ],
        "select region, weekend_start, weekend_gross, week_gross, currency "
        "from box_office_grosses order by id",
        [
            ("US", date(2024, 3, 1), 82_505_391, 100_102_003, "USD"),
            ("IN", date(2024, 3, 1), 3_000_000_000, None, "INR"),
        ],
    ),
    "curated_lists": (
        "csv",
        [
            {
                "slug": "noir",
                "title": "Noir",
                "list_type": "genre",
                "curator_id": 1,
                "is_published": "true",
                "published_at": "2024-01-05",
            }
        ],
        "select slug, curator_id, is_published from curated_lists where id > 10",
        [("noir", 1, True)],
    ),
    "curated_list_movies": (
        "csv",
        [
            {"curated_list_id": 1, "movie_id": 1, "position": 1},
            {"curated_list_id": 1, "movie_id": 2, "position": 2, "note": "A heist"},
        ],
        "select movie_id, position, note from curated_list_movies order by position",
        [(1, 1, None), (2, 2, "A heist")],
    ),
    "featured_rails": (
        "csv",
        [
            {
                "title": "Awards season",
                "placement": "awards",
                "region": "UK",
                "position": 2,
                "source": "curated-list",
                "curated_list_id": 1,
                "starts_at": "2024-02-01",
                "ends_at": "2024-03-01T12:00:00",
            }
        ],
        "select region, ends_at from featured_rails where id > 10",
        [("UK", datetime(2024, 3, 1, 12))],
    ),
    "featured_rail_movies": (
        "csv",
        [{"rail_id": 1, "movie_id": 3, "position": 1}],
        "select rail_id, movie_id from featured_rail_movies",
        [(1, 3)],
    ),
    "movie_similarities": (
        "csv",
        [
            {"movie_id": 1, "similar_movie_id": 3, "score": "0.82", "method": "co-watch"},
            {"movie_id": 3, "similar_movie_id": 1, "score": "0.4", "method": "co-watch"},
        ],
        "select movie_id, similar_movie_id, score from movie_similarities order by 1",
        [(1, 3, 0.82), (3, 1, 0.4)],
    ),
    "quizzes": (
        "csv",
        [
            {
                "title": "Alien trivia",
                "movie_id": 3,
                "source": "trivia",
                "difficulty": "hard",
                "time_limit_seconds": 300,
                "is_published": "t",
            }
        ],
        "select title, movie_id, source from quizzes where id > 10",
        [("Alien trivia", 3, "trivia")],
    ),
    "quiz_questions": (
        "jsonl",
        [
            {
                "quiz_id": 1,
                "position": 2,
                "prompt": "Which year?",
                "options": ["2021", "1984"],
                "answer_index": 0,
            }
        ],
        "select options->>1, answer_index from quiz_questions where id > 10",
        [("1984", 0)],
    ),
    "quiz_attempts": (
        "jsonl",
        [
            {
                "quiz_id": 1,
                "user_id": 2,
                "started_at": "2024-05-01T10:00:00Z",
                "finished_at": "2024-05-01T12:03:00+02:00",
                "question_count": 1,
                "score": 1,
                "answers": [{"question_id": 1, "chosen": 0}],
            },
            {
                "quiz_id": 1,
                "user_id": 1,
                "started_at": "2024-05-02",
                "question_count": 1,
                "answers": None,
            },
        ],
        "select user_id, finished_at, score, answers->0->>'chosen' from quiz_attempts order by id",
        [(2, datetime(2024, 5, 1, 10, 3), 1, "0"), (1, None, None, None)],
    ),
    "talent_profiles": (
        "csv",
        [{"user_id": 2, "display_name": "Bo", "primary_role": "actor", "region": "UK"}],
        "select person_id, user_id, open_to_work from talent_profiles order by id",
        [(1, None, True), (None, 2, True)],
    ),
    "casting_calls": (
        "csv",
        [
            {
                "title": "Extra",
                "role": "actor",
                "region": "US",
                "is_paid": "yes",
                "deadline": "2030-01-01",
            }
        ],
        "select title, status, is_paid from casting_calls where id > 10",
        [("Extra", "open", True)],
    ),
    "casting_applications": (
        "csv",
        [{"casting_call_id": 1, "talent_profile_id": 1, "cover_note": "Available"}],
        "select casting_call_id, talent_profile_id, status from casting_applications",
        [(1, 1, "submitted")],
    ),
    "content_reports": (
        "csv",
        [
            {
                "reporter_id": 2,
                "target_type": "pulse",
                "target_id": 5,
                "reason": "spoilers",
                "status": "dismissed",
                "created_at": "2024-01-01",
                "resolved_at": "2024-01-02",
            }
        ],
        "select target_type, status, resolved_at from content_reports where id > 10",
        [("pulse", "dismissed", datetime(2024, 1, 2))],
    ),
    "moderation_actions": (
        "csv",
        [
            {
                "report_id": 1,
                "moderator_id": 1,
                "action": "warn",
                "target_type": "review",
                "target_id": 1,
            }
        ],
        "select action from moderation_actions order by id",
        [("hide",), ("warn",)],
    ),
    "user_roles": (
        "csv",
        # User 1 holds moderator (a reference row): an earlier, revoked grant of the same role
        # is history, which the partial unique index allows; a second held one it does not.
        [
            {
                "user_id": 1,
                "role": "moderator",
                "created_at": "2023-01-01",
                "revoked_at": "2023-06-01",
            },
            {"user_id": 2, "role": "editor", "created_at": "2024-01-01", "revoked_at": ""},
        ],
        "select user_id, role, revoked_at from user_roles order by id",
        [(1, "moderator", None), (1, "moderator", datetime(2023, 6, 1)), (2, "editor", None)],
    ),
    "user_bans": (
        "csv",
        [
            {
                "user_id": 2,
                "action_id": 1,
                "banned_by_id": 1,
                "scope": "posting",
                "reason": "Spam",
                "starts_at": "2024-01-01",
                "ends_at": "2024-02-01",
            }
        ],
        "select user_id, scope, ends_at from user_bans",
        [(2, "posting", datetime(2024, 2, 1))],
    ),
    "audit_log": (
        "jsonl",
        [
            {
                "actor_id": 1,
                "action": "review.hide",
                "target_table": "reviews",
                "target_id": 1,
                "details": {"before": "visible", "after": "hidden"},
            },
            {"action": "platform.reindex", "details": None},
        ],
        "select actor_id, action, target_id, details->>'after' from audit_log order by id",
        [(1, "review.hide", 1, "hidden"), (None, "platform.reindex", None, None)],
    ),
}
