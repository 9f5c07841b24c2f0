"""The platform areas' demo data (awards and festivals, box office, discovery, quizzes,
talent hub, moderation): consistent with the base tables and with itself, checked in SQL on
the tiny dataset the seeder loads, and the same rows for the same seed."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL

from iwm_lab.database import get_engine
from iwm_lab.demodata import NOTEBOOK_AS_OF, SCALES
from iwm_lab.demodata.generate import SOURCES
from iwm_lab.demodata.world import World, build_world
from iwm_lab.importing.tables import IMPORTABLE_TABLES

# The platform areas' tables, each after those it references.
PLATFORM_TABLES = tuple(IMPORTABLE_TABLES[IMPORTABLE_TABLES.index("award_bodies") :])
# Timestamps of things that happened (not plans such as a deadline or a ban's end).
EVENT_COLUMNS = {
    "award_ceremonies": ("ceremony_date", "created_at"),
    "award_nominations": ("created_at",),
    "festival_editions": ("starts_on", "ends_on", "created_at"),
    "festival_selections": ("created_at",),
    "box_office_grosses": ("weekend_start", "created_at", "updated_at"),
    "curated_lists": ("created_at", "published_at", "updated_at"),
    "curated_list_movies": ("added_at",),
    "featured_rails": ("starts_at", "created_at"),
    "movie_similarities": ("computed_at",),
    "quizzes": ("created_at", "updated_at"),
    "quiz_questions": ("created_at",),
    "quiz_attempts": ("started_at", "finished_at"),
    "talent_profiles": ("created_at", "updated_at"),
    "casting_calls": ("created_at", "updated_at"),
    "casting_applications": ("created_at", "updated_at"),
    "content_reports": ("created_at", "resolved_at"),
    "moderation_actions": ("created_at",),
    "user_roles": ("created_at", "revoked_at"),
    "user_bans": ("starts_at", "lifted_at"),
    "audit_log": ("created_at",),
}

# Each query counts the rows breaking one rule; every count must be 0.
VIOLATIONS = {
    "nominated movie unreleased at the ceremony": """
        select count(*) from award_nominations n
        join award_ceremonies c on c.id = n.ceremony_id join movies m on m.id = n.movie_id
        where m.status <> 'released' or m.release_date::date > c.ceremony_date""",
    "nominee without a credit in the category's role": """
        select count(*) from award_nominations n join award_categories k on k.id = n.category_id
        where k.subject = 'person' and not exists (select from movie_people p
            where p.movie_id = n.movie_id and p.person_id = n.person_id
            and p.role = k.credit_role)""",
    "person named in a film category, or none in a person category": """
        select count(*) from award_nominations n join award_categories k on k.id = n.category_id
        where (k.subject = 'movie') <> (n.person_id is null) or n.movie_id is null""",
    "category of another body than the ceremony's": """
        select count(*) from award_nominations n join award_categories k on k.id = n.category_id
        join award_ceremonies c on c.id = n.ceremony_id where k.award_body_id <> c.award_body_id""",
    "two winners in a ceremony's category": """
        select count(*) from (select 1 from award_nominations where won
            group by ceremony_id, category_id having count(*) > 1) x""",
    "grosses of a movie without revenue": """
        select count(*) from box_office_grosses g join movies m on m.id = g.movie_id
        where m.revenue is null or m.release_date::date > g.weekend_start""",
    "finished run not within 5% of the revenue": """
        select count(*) from (select movie_id, sum(week_gross) total from box_office_grosses
            group by movie_id having bool_and(week_gross is not null)) t
        join movies m on m.id = t.movie_id where abs(t.total::numeric / m.revenue - 1) > 0.05""",
    "weekend ranks not 1..n by gross": """
        select count(*) from (select count(*) n, count(distinct rank) d, min(rank) lo,
            max(rank) hi from box_office_grosses group by region, weekend_start) x
        where n <> d or lo <> 1 or hi <> n""",
    "a lower rank outgrossing a higher one": """
        select count(*) from box_office_grosses a join box_office_grosses b
        on (a.region, a.weekend_start) = (b.region, b.weekend_start)
        where a.rank < b.rank and a.weekend_gross < b.weekend_gross""",
    "a run growing week on week": """
        select count(*) from box_office_grosses a join box_office_grosses b
        on (a.movie_id, a.region) = (b.movie_id, b.region) and b.week_of_run = a.week_of_run + 1
        where b.weekend_start <> a.weekend_start + 7 or b.theaters > a.theaters
        or b.week_gross > a.week_gross * 1.1""",
    "a movie similar to itself": """
        select count(*) from movie_similarities where movie_id = similar_movie_id""",
    "similar movies without a shared genre scored high": """
        select count(*) from movie_similarities s where s.score > 0.5 and not exists (
            select from movie_genres a join movie_genres b using (genre_id)
            where a.movie_id = s.movie_id and b.movie_id = s.similar_movie_id)""",
    "a score other than the answers matching the answer index": """
        select count(*) from quiz_attempts a where a.score is not null and a.score <> (
            select count(*) from jsonb_array_elements(a.answers) e
            join quiz_questions q on q.id = (e ->> 'question_id')::int
            where (e ->> 'chosen')::int = q.answer_index)""",
    "an answer to another quiz's question": """
        select count(*) from quiz_attempts a, jsonb_array_elements(a.answers) e
        join quiz_questions q on q.id = (e ->> 'question_id')::int where q.quiz_id <> a.quiz_id""",
    "question_count other than the quiz's questions": """
        select count(*) from quiz_attempts a where question_count <> (
            select count(*) from quiz_questions q where q.quiz_id = a.quiz_id)""",
    "a finished attempt that answered less than all questions": """
        select count(*) from quiz_attempts where finished_at is not null
        and jsonb_array_length(answers) <> question_count""",
    "an attempt before the quiz or the user existed": """
        select count(*) from quiz_attempts a join quizzes q on q.id = a.quiz_id
        join users u on u.id = a.user_id
        where a.started_at < greatest(q.created_at, u.created_at)""",
    "a trivia question other than the movie's trivia": """
        select count(*) from quiz_questions q join quizzes z on z.id = q.quiz_id
        join movies m on m.id = z.movie_id where z.source = 'trivia' and (
            (m.trivia::jsonb) -> q.trivia_index ->> 'question' is distinct from q.prompt
            or (m.trivia::jsonb) -> q.trivia_index ->> 'answer'
               is distinct from q.options ->> q.answer_index)""",
    "a filled call without exactly one accepted application": """
        select count(*) from casting_calls c where c.status = 'filled' and (select count(*)
            from casting_applications a where a.casting_call_id = c.id
            and a.status = 'accepted') <> 1""",
    "an application to a draft or before the call": """
        select count(*) from casting_applications a join casting_calls c
        on c.id = a.casting_call_id where c.status = 'draft' or a.created_at < c.created_at""",
    "a report on a missing target": """
        select count(*) from content_reports r where not case r.target_type
            when 'review' then exists (select from reviews where id = r.target_id)
            when 'pulse' then exists (select from pulses where id = r.target_id)
            when 'user' then exists (select from users where id = r.target_id)
            when 'collection' then exists (select from collections where id = r.target_id)
            when 'quiz' then exists (select from quizzes where id = r.target_id)
            when 'talent_profile' then exists (select from talent_profiles where id = r.target_id)
            when 'casting_call' then exists (select from casting_calls where id = r.target_id)
        end""",
    "a report before its target": """
        select count(*) from content_reports r
        left join reviews v on r.target_type = 'review' and v.id = r.target_id
        left join pulses p on r.target_type = 'pulse' and p.id = r.target_id
        left join users u on r.target_type = 'user' and u.id = r.target_id
        left join collections c on r.target_type = 'collection' and c.id = r.target_id
        left join quizzes q on r.target_type = 'quiz' and q.id = r.target_id
        left join talent_profiles t on r.target_type = 'talent_profile' and t.id = r.target_id
        left join casting_calls k on r.target_type = 'casting_call' and k.id = r.target_id
        where r.created_at < coalesce(v.date, p.created_at, u.created_at, c.created_at,
            q.created_at, t.created_at, k.created_at)""",
    "an action before its report, or on another target": """
        select count(*) from moderation_actions a join content_reports r on r.id = a.report_id
        where a.created_at < r.created_at or (a.target_type, a.target_id)
            <> (r.target_type, r.target_id)""",
    "a settled report without its action at resolved_at": """
        select count(*) from content_reports r where status in ('actioned', 'dismissed')
        and not exists (select from moderation_actions a where a.report_id = r.id
            and a.created_at = r.resolved_at
            and (a.action = 'dismiss') = (r.status = 'dismissed'))""",
    "a ban before its action, or of someone else": """
        select count(*) from user_bans b join moderation_actions a on a.id = b.action_id
        where b.starts_at < a.created_at or a.target_type <> 'user' or a.target_id <> b.user_id
        or a.action not in ('suspend', 'ban')""",
    "an action by someone not holding a moderator's or admin's role then": """
        select count(*) from moderation_actions a where moderator_id is not null
        and not exists (select from user_roles r where r.user_id = a.moderator_id
            and r.role in ('admin', 'moderator') and r.created_at <= a.created_at
            and (r.revoked_at is null or r.revoked_at > a.created_at))""",
    "audit log out of time order": """
        select count(*) from audit_log a join audit_log b on b.id = a.id + 1
        where b.created_at < a.created_at""",
    "an audit entry pointing at a missing row": """
        select count(*) from audit_log l where not case l.target_table
            when 'moderation_actions' then exists (select from moderation_actions
                where id = l.target_id)
            when 'user_roles' then exists (select from user_roles where id = l.target_id)
            when 'user_bans' then exists (select from user_bans where id = l.target_id)
            when 'curated_lists' then exists (select from curated_lists where id = l.target_id)
            when 'quizzes' then exists (select from quizzes where id = l.target_id)
            when 'casting_calls' then exists (select from casting_calls where id = l.target_id)
        end""",
    "a curated list item that is not released": """
        select count(*) from curated_list_movies i join movies m on m.id = i.movie_id
        where m.status <> 'released'""",
    "an awards list holding a film that never won": """
        select count(*) from curated_list_movies i join curated_lists l on l.id = i.curated_list_id
        where l.list_type = 'awards' and not exists (select from award_nominations n
            where n.movie_id = i.movie_id and n.won)""",
}


def _value(url: URL, sql: str, **params: Any) -> Any:
    engine = get_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql), params).scalar_one()
    finally:
        engine.dispose()


@pytest.mark.parametrize("table", PLATFORM_TABLES)
def test_every_platform_table_holds_rows(tiny_url: URL, table: str) -> None:
    assert _value(tiny_url, f"select count(*) from {table}") > 0


@pytest.mark.parametrize("rule", list(VIOLATIONS))
def test_rows_keep_the_rule(tiny_url: URL, rule: str) -> None:
    assert _value(tiny_url, VIOLATIONS[rule]) == 0


@pytest.mark.parametrize("table", list(EVENT_COLUMNS))
def test_nothing_happens_after_as_of(tiny_url: URL, table: str) -> None:
    latest = " , ".join(f"max({c}::timestamp)" for c in EVENT_COLUMNS[table])
    sql = f"select greatest({latest}) from {table}"
    assert _value(tiny_url, sql) <= NOTEBOOK_AS_OF


def test_some_festival_prizes_lead_to_awards(tiny_url: URL) -> None:
    paths = _value(
        tiny_url,
        """select count(distinct n.movie_id) from festival_selections s
        join festival_editions e on e.id = s.edition_id
        join award_nominations n on n.movie_id = s.movie_id
        join award_ceremonies c on c.id = n.ceremony_id
        where s.prize is not null and e.starts_on < c.ceremony_date and n.won""",
    )
    assert paths >= 3


def test_bodies_pick_different_winners(tiny_url: URL) -> None:
    years = _value(
        tiny_url,
        """select count(*) from (select c.year from award_nominations n
        join award_ceremonies c on c.id = n.ceremony_id
        join award_categories k on k.id = n.category_id
        where n.won and k.name = 'Best Picture' group by c.year
        having count(distinct n.movie_id) > 1) x""",
    )
    assert years >= 3


def test_critics_like_winners_more_than_users_do(tiny_url: URL) -> None:
    # Like for like: each movie's critics score against its own mean user rating.
    gap = """select avg(m.critics_score - r.rating) from movies m
        join (select movie_id, avg(rating) rating from reviews group by 1) r on r.movie_id = m.id
        where m.critics_score is not null and m.id {} (select movie_id from award_nominations
        where won)"""
    winners = _value(tiny_url, gap.format("in"))
    others = _value(tiny_url, gap.format("not in"))
    assert winners > others + 0.2


def test_the_talent_queue_holds_old_open_reports(tiny_url: URL) -> None:
    sql = """select coalesce(percentile_cont(0.5) within group (order by
            extract(epoch from cast(:as_of as timestamp) - created_at) / 86400), 0)
        from content_reports where status in ('open', 'reviewing')
        and target_type {} 'talent_profile'"""
    neglected = _value(tiny_url, sql.format("="), as_of=NOTEBOOK_AS_OF)
    worked = _value(tiny_url, sql.format("<>"), as_of=NOTEBOOK_AS_OF)
    assert neglected > 90 > worked


def test_some_quizzes_are_much_harder_than_their_label(tiny_url: URL) -> None:
    harder = _value(
        tiny_url,
        """select count(*) from (select q.id from quiz_attempts a join quizzes q
        on q.id = a.quiz_id where a.score is not null and q.difficulty <> 'hard'
        group by q.id having avg(a.score::numeric / a.question_count) < 0.3) x""",
    )
    easy = _value(
        tiny_url,
        """select avg(a.score::numeric / a.question_count) from quiz_attempts a
        join quizzes q on q.id = a.quiz_id where q.difficulty = 'easy' and a.score is not null""",
    )
    assert harder >= 1 and easy > 0.7


def test_unfinished_attempts_have_no_score(tiny_url: URL) -> None:
    unfinished = _value(
        tiny_url,
        "select count(*) from quiz_attempts where finished_at is null and score is null",
    )
    assert unfinished > 0


def _digests(world: World, tables: tuple[str, ...] = PLATFORM_TABLES) -> dict[str, str]:
    out = {}
    for source in SOURCES:
        if source.table in tables:
            digest = hashlib.md5()
            for rows in source.rows(world):
                digest.update(bytes(rows.render()))
            out[source.table] = digest.hexdigest()
    return out


@pytest.mark.slow
def test_the_same_seed_gives_the_same_rows() -> None:
    world = build_world(SCALES["tiny"], 42, NOTEBOOK_AS_OF)
    first = _digests(world)
    # A world of its own: nothing of the first run's plans is reused.
    again = _digests(replace(world, cache={}))
    assert first.keys() == set(PLATFORM_TABLES)
    assert first == again
    some = ("award_nominations", "box_office_grosses", "quiz_attempts", "content_reports")
    other = _digests(build_world(SCALES["tiny"], 7, NOTEBOOK_AS_OF), some)
    assert all(other[t] != first[t] for t in some)
