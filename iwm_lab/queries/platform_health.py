"""Platform health: the moderation queue and how fast it moves, quiz engagement and difficulty.

The functions read ``content_reports`` with their ``moderation_actions``, and ``quizzes``
with their ``quiz_attempts``, as they stood at ``as_of`` (a moment: a ``datetime``, a date
or an ISO string, naive UTC like the stored timestamps; default the transaction's
``localtimestamp``): a report resolved after ``as_of`` was still open then, an attempt
finished after it was not finished yet, and rows created after it did not exist.

Target types are :data:`iwm_lab.models.moderation.REPORT_TARGET_TYPES`, quiz sources and
difficulties :data:`iwm_lab.models.quizzes.QUIZ_SOURCES` and ``QUIZ_DIFFICULTIES``.
Ranges, checked before any query (a ``ValueError`` naming the range otherwise): ``days`` 1
to 3,650, ``min_attempts`` 1 to 1,000,000, ``limit`` 1 to 10,000, ``as_of`` in the years 1870
to 2100.
"""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd
from sqlalchemy import Connection, text

from iwm_lab.models.moderation import REPORT_TARGET_TYPES
from iwm_lab.models.quizzes import QUIZ_DIFFICULTIES
from iwm_lab.queries._common import (
    check_choice,
    check_int,
    check_limit,
    check_moment,
    frame,
    typed,
)
from iwm_lab.queries._intervals import km_quantiles, t_interval, wilson

__all__ = [
    "AGE_BUCKETS",
    "moderation_queue",
    "quiz_difficulty",
    "quiz_engagement",
    "time_to_action",
]

Moment = datetime | date | str
MAX_DAYS = 3650
MAX_MIN_ATTEMPTS = 1_000_000
# The queue's age buckets: label and lower bound in hours (each runs to the next one's).
AGE_BUCKETS: tuple[tuple[str, int], ...] = (
    ("under 1 day", 0),
    ("1-3 days", 24),
    ("3-7 days", 72),
    ("1-4 weeks", 168),
    ("over 4 weeks", 672),
)
ACTION_GROUPS: tuple[str, ...] = ("target_type", "reason")
QUIZ_GROUPS: tuple[str, ...] = ("source", "difficulty")
NOT_SET = "not set"  # a quiz without a difficulty


def _as_of(value: Moment | None) -> datetime | None:
    return None if value is None else check_moment(value, "as_of")


# Open at the moment: created by then, and not resolved by then (resolved_at is set exactly
# when a report is actioned or dismissed). Every type and bucket gets a row, zeros included.
_QUEUE_SQL = text("""
WITH clock AS (SELECT coalesce(CAST(:as_of AS timestamp), localtimestamp) AS at),
buckets AS (
    SELECT * FROM unnest(CAST(:labels AS text[]), CAST(:lows AS integer[]))
        WITH ORDINALITY AS b(age, low_hours, position)
),
open_reports AS (
    SELECT r.target_type, extract(epoch FROM clock.at - r.created_at) / 3600 AS hours
    FROM content_reports AS r, clock
    WHERE r.created_at <= clock.at AND (r.resolved_at IS NULL OR r.resolved_at > clock.at)
),
bucketed AS (
    SELECT o.target_type,
           (SELECT max(b.position) FROM buckets AS b WHERE o.hours >= b.low_hours) AS position,
           o.hours
    FROM open_reports AS o
)
SELECT t.target_type, b.age, count(x.position) AS reports,
       coalesce(max(x.hours) / 24, 0) AS oldest_days
FROM unnest(CAST(:types AS text[])) WITH ORDINALITY AS t(target_type, type_position)
CROSS JOIN buckets AS b
LEFT JOIN bucketed AS x ON x.target_type = t.target_type AND x.position = b.position
GROUP BY t.target_type, t.type_position, b.age, b.position
ORDER BY t.type_position, b.position
""")

QUEUE_COLUMNS: dict[str, str] = {
    "target_type": "str",
    "age": "str",
    "reports": "int64",
    "oldest_days": "float64",
}


def moderation_queue(conn: Connection, *, as_of: Moment | None = None) -> pd.DataFrame:
    """The reports open at ``as_of``, by target type and age.

    A report is open from its ``created_at`` until its ``resolved_at``: one resolved after
    ``as_of`` counts as open (at ``as_of`` nobody had acted yet), whatever its status says
    now. Its age is ``as_of - created_at``, bucketed by :data:`AGE_BUCKETS`.

    One row per target type (in the order of ``REPORT_TARGET_TYPES``) and age bucket
    (youngest first), zeros included:

    - ``target_type`` (str), ``age`` (str): the bucket's label.
    - ``reports`` (int64): open reports of that type and age.
    - ``oldest_days`` (float64): the oldest of them, in days (0 when none).
    """
    moment = _as_of(as_of)
    params = {
        "as_of": moment,
        "labels": [label for label, _ in AGE_BUCKETS],
        "lows": [low for _, low in AGE_BUCKETS],
        "types": list(REPORT_TARGET_TYPES),
    }
    return frame(conn, _QUEUE_SQL, QUEUE_COLUMNS, params)


# Each report of the window, with the moment it was first acted on (its first action, or its
# resolution when no action row names it) if that was by as_of.
_ACTION_TEMPLATE = """
WITH clock AS (SELECT coalesce(CAST(:as_of AS timestamp), localtimestamp) AS at)
SELECT r.{column} AS "group",
       extract(epoch FROM least(a.first_action, r.resolved_at) - r.created_at) / 3600
           AS hours_to_action,
       extract(epoch FROM clock.at - r.created_at) / 3600 AS hours_open
FROM content_reports AS r
CROSS JOIN clock
LEFT JOIN LATERAL (
    SELECT min(m.created_at) AS first_action FROM moderation_actions AS m
    WHERE m.report_id = r.id
) AS a ON true
WHERE r.created_at <= clock.at AND r.created_at > clock.at - make_interval(days => :days)
"""
# The grouping column is one of a fixed set of names, never a caller's text.
_ACTION_SQL = {by: text(_ACTION_TEMPLATE.format(column=by)) for by in ACTION_GROUPS}

ACTION_COLUMNS: dict[str, str] = {
    "group": "str",
    "reports": "int64",
    "acted": "int64",
    "waiting": "int64",
    "median_hours": "float64",
    "p90_hours": "float64",
    "acted_median_hours": "float64",
}


def time_to_action(
    conn: Connection, *, as_of: Moment | None = None, days: int = 90, by: str = "target_type"
) -> pd.DataFrame:
    """How long reports wait for a moderator: the median and 90th percentile of the time
    from a report to its first action, for the reports of the ``days`` days up to ``as_of``.

    A report's first action is its earliest ``moderation_actions`` row (or its
    ``resolved_at``, if earlier or without one), counted when it came by ``as_of``. The
    reports still waiting matter: the median of the acted-on reports alone
    (``acted_median_hours``) leaves out the slowest ones, so it is too short exactly when the
    queue is behind. The percentiles are Kaplan-Meier estimates, which count a waiting report
    as "not acted on within its age so far"; a percentile the waiting reports keep out of
    reach (fewer than that share acted on, at any age) is NaN.

    ``by`` (one of :data:`ACTION_GROUPS`) groups the reports by ``target_type`` or
    ``reason``. One row per group with a report, by group name:

    - ``group`` (str): the target type or reason.
    - ``reports`` (int64): reports created in the window.
    - ``acted`` (int64), ``waiting`` (int64): acted on by ``as_of``, or not.
    - ``median_hours``, ``p90_hours`` (float64): time to first action, in hours.
    - ``acted_median_hours`` (float64): the median over the acted-on reports only.
    """
    moment = _as_of(as_of)
    check_int(days, "days", 1, MAX_DAYS)
    check_choice(by, ACTION_GROUPS, "by")
    rows = frame(
        conn,
        _ACTION_SQL[by],
        {"group": "str", "hours_to_action": "float64", "hours_open": "float64"},
        {"as_of": moment, "days": days},
    )
    # Acted on by as_of: an action after it had not happened yet.
    acted = rows["hours_to_action"].le(rows["hours_open"]) & rows["hours_to_action"].notna()
    rows = rows.assign(acted=acted, hours=rows["hours_to_action"].where(acted, rows["hours_open"]))
    result = []
    for group, part in rows.groupby("group", sort=True):
        durations, events = part["hours"].to_numpy(), part["acted"].to_numpy()
        median, p90 = km_quantiles(durations, events, (0.5, 0.9))
        result.append(
            {
                "group": group,
                "reports": len(part),
                "acted": int(events.sum()),
                "waiting": int((~events).sum()),
                "median_hours": median,
                "p90_hours": p90,
                "acted_median_hours": float(np.median(durations[events]))
                if events.any()
                else np.nan,
            }
        )
    return typed(pd.DataFrame(result, columns=list(ACTION_COLUMNS)), ACTION_COLUMNS)


_ENGAGEMENT_TEMPLATE = """
WITH clock AS (SELECT coalesce(CAST(:as_of AS timestamp), localtimestamp) AS at),
counted AS (
    SELECT coalesce(q.{column}, CAST(:not_set AS text)) AS group_key,
           count(DISTINCT a.quiz_id) AS quizzes, count(*) AS attempts,
           count(DISTINCT a.user_id) AS users,
           count(*) FILTER (WHERE a.finished_at <= clock.at) AS finished
    FROM quiz_attempts AS a
    CROSS JOIN clock
    JOIN quizzes AS q ON q.id = a.quiz_id
    WHERE a.started_at <= clock.at AND a.started_at > clock.at - make_interval(days => :days)
    GROUP BY 1
)
SELECT group_key AS "group", quizzes, attempts, users, finished
FROM counted
ORDER BY group_key COLLATE "C"
"""
_ENGAGEMENT_SQL = {by: text(_ENGAGEMENT_TEMPLATE.format(column=by)) for by in QUIZ_GROUPS}

ENGAGEMENT_COLUMNS: dict[str, str] = {
    "group": "str",
    "quizzes": "int64",
    "attempts": "int64",
    "users": "int64",
    "attempts_per_user": "float64",
    "finished": "int64",
    "completion_rate": "float64",
    "ci_low": "float64",
    "ci_high": "float64",
}


def quiz_engagement(
    conn: Connection, *, as_of: Moment | None = None, days: int = 30, by: str = "source"
) -> pd.DataFrame:
    """How much quizzes are played and finished: the attempts started in the ``days`` days
    up to ``as_of``, by quiz ``source`` or ``difficulty`` (:data:`QUIZ_GROUPS`).

    An attempt is finished when its ``finished_at`` is by ``as_of``: one finished later was
    still under way. The completion rate is finished over started attempts, with its 95 %
    Wilson interval; attempts started just before ``as_of`` may yet be finished, so a short
    window ending now reads low. One row per group with an attempt, by group name (quizzes
    without a difficulty are "not set"):

    - ``group`` (str).
    - ``quizzes`` (int64): quizzes attempted; ``attempts`` (int64); ``users`` (int64):
      distinct players; ``attempts_per_user`` (float64).
    - ``finished`` (int64), ``completion_rate``, ``ci_low``, ``ci_high`` (float64).
    """
    moment = _as_of(as_of)
    check_int(days, "days", 1, MAX_DAYS)
    check_choice(by, QUIZ_GROUPS, "by")
    counts = frame(
        conn,
        _ENGAGEMENT_SQL[by],
        {"group": "str", "quizzes": "int64", "attempts": "int64"}
        | {"users": "int64", "finished": "int64"},
        {"as_of": moment, "days": days, "not_set": NOT_SET},
    )
    counts["attempts_per_user"] = counts["attempts"] / counts["users"]
    rate, low, high = wilson(counts["finished"], counts["attempts"])
    counts["completion_rate"], counts["ci_low"], counts["ci_high"] = rate, low, high
    return typed(counts, ENGAGEMENT_COLUMNS)


# Per quiz, the finished attempts' score shares: the mean, the spread, the count; the hardest
# (lowest mean) first.
_DIFFICULTY_SQL = text("""
WITH clock AS (SELECT coalesce(CAST(:as_of AS timestamp), localtimestamp) AS at),
per_quiz AS (
    SELECT a.quiz_id, count(*) AS attempts,
           avg(a.score::float8 / a.question_count) AS mean_share,
           stddev_samp(a.score::float8 / a.question_count) AS sd_share
    FROM quiz_attempts AS a, clock
    WHERE a.finished_at <= clock.at AND a.score IS NOT NULL
    GROUP BY a.quiz_id
    HAVING count(*) >= :min_attempts
)
SELECT p.quiz_id, q.title, coalesce(q.difficulty, :not_set) AS difficulty, q.source,
       p.attempts, p.mean_share, coalesce(p.sd_share, 0) AS sd_share
FROM per_quiz AS p
JOIN quizzes AS q ON q.id = p.quiz_id
WHERE CAST(:difficulty AS text) IS NULL OR q.difficulty = CAST(:difficulty AS text)
ORDER BY round(p.mean_share::numeric, 9), p.attempts DESC, p.quiz_id
LIMIT :limit
""")

DIFFICULTY_COLUMNS: dict[str, str] = {
    "quiz_id": "int64",
    "title": "str",
    "difficulty": "str",
    "source": "str",
    "attempts": "int64",
    "mean_share": "float64",
    "ci_low": "float64",
    "ci_high": "float64",
}


def quiz_difficulty(
    conn: Connection,
    *,
    as_of: Moment | None = None,
    min_attempts: int = 20,
    difficulty: str | None = None,
    limit: int = 20,
) -> pd.DataFrame:
    """The hardest quizzes: the lowest mean share of right answers over finished attempts.

    An attempt's share is its score over its ``question_count`` (the questions the quiz had
    when it started), so attempts of a quiz edited in between weigh alike; unfinished
    attempts (no score by ``as_of``) say nothing about difficulty and are left out rather
    than counted as zero. Quizzes with fewer than ``min_attempts`` finished attempts are left
    out: their mean is mostly chance. ``difficulty`` keeps the quizzes labelled so (one of
    ``QUIZ_DIFFICULTIES``).

    At most ``limit`` rows, by ``mean_share`` ascending, then ``attempts`` descending, then
    ``quiz_id``:

    - ``quiz_id`` (int64), ``title`` (str), ``difficulty`` (str; "not set" when NULL),
      ``source`` (str).
    - ``attempts`` (int64): finished attempts.
    - ``mean_share`` (float64): mean share of right answers, 0-1.
    - ``ci_low``, ``ci_high`` (float64): its 95 % t-interval (NaN for a single attempt).
    """
    moment = _as_of(as_of)
    check_int(min_attempts, "min_attempts", 1, MAX_MIN_ATTEMPTS)
    if difficulty is not None:
        check_choice(difficulty, QUIZ_DIFFICULTIES, "difficulty")
    check_limit(limit)
    params = {
        "as_of": moment,
        "min_attempts": min_attempts,
        "difficulty": difficulty,
        "limit": limit,
        "not_set": NOT_SET,
    }
    quizzes = frame(
        conn,
        _DIFFICULTY_SQL,
        {k: v for k, v in DIFFICULTY_COLUMNS.items() if not k.startswith("ci_")}
        | {"sd_share": "float64"},
        params,
    )
    low, high = t_interval(quizzes["mean_share"], quizzes["sd_share"], quizzes["attempts"])
    quizzes["ci_low"], quizzes["ci_high"] = low, high
    return typed(quizzes, DIFFICULTY_COLUMNS)


def __dir__() -> list[str]:
    # What tab completion offers: the queries, not the names they are built from.
    return list(__all__)
