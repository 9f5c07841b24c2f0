"""``iwm_lab.queries.platform_health``: the moderation queue, time to action, quiz engagement
and difficulty.

Hand-made rows (each test in a transaction that is rolled back) as of a fixed moment, where
the naive answer is wrong: a report resolved after that moment (open then, closed by status
now), reports still waiting (the median of the acted-on ones alone is too short), an attempt
finished after the moment, an unfinished attempt (no score: not a score of zero), attempts
of a quiz edited in between (scores out of different question counts). The tiny demo dataset
is checked against pandas.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from inputs import insert
from sqlalchemy import Connection, text

from iwm_lab.demodata import NOTEBOOK_AS_OF
from iwm_lab.queries import platform_health
from iwm_lab.queries._intervals import km_quantiles
from iwm_lab.queries.platform_health import (
    moderation_queue,
    quiz_difficulty,
    quiz_engagement,
    time_to_action,
)

AS_OF = datetime(2026, 11, 1)
H = timedelta(hours=1)
# key, target type, created (hours before AS_OF; negative: after), status, resolved (hours
# after creation), first action (hours after creation, None: no action row), action
REPORTS = [
    ("r1", "review", 2, "open", None, None, None),
    ("r2", "review", 48, "reviewing", None, None, None),
    # Resolved a day after AS_OF: open at AS_OF, though "actioned" now.
    ("p1", "pulse", 240, "actioned", 264, 264, "remove"),
    ("p2", "pulse", 960, "dismissed", 24, 24, "dismiss"),
    ("p3", "pulse", 2400, "dismissed", 5, 5, "dismiss"),  # 100 days: outside a 90-day window
    ("x1", "user", -1, "open", None, None, None),  # after AS_OF
    ("x2", "user", 720, "open", None, None, None),
    ("q1", "quiz", 80, "dismissed", 1, None, None),  # dismissed without an action row
    ("q2", "quiz", 80, "reviewing", None, 2, "escalate"),  # acted on, still open
    ("q3", "quiz", 80, "actioned", 3, 3, "hide"),
    ("q4", "quiz", 50, "open", None, None, None),
    ("q5", "quiz", 60, "open", None, None, None),
]
# quiz, user, started (hours before AS_OF), minutes to finish (None: unfinished), questions,
# score
ATTEMPTS = [
    ("hard", "u1", 120, 10, 10, 2),
    ("hard", "u2", 96, 10, 5, 1),  # the quiz had 5 questions then
    ("hard", "u3", 72, 10, 10, 3),
    ("hard", "u1", -2, 10, 10, 10),  # after AS_OF
    ("easy", "u1", 48, 10, 10, 9),
    ("easy", "u2", 1, None, 10, None),  # unfinished
    ("easy", "u3", 2, 180, 10, 10),  # finished an hour after AS_OF
    ("unset", "u1", 960, 10, 4, 4),  # 40 days before
]


@pytest.fixture
def data(conn: Connection) -> dict[str, int]:
    ids: dict[str, int] = {}
    for name in ("u1", "u2", "u3"):
        row = {"name": name, "hashed_password": "x", "email": f"{name}@example.org"}
        ids[name] = insert(conn, "users", [row])[0]
    for key, target, hours, status, resolved, acted, action in REPORTS:
        created = AS_OF - hours * H
        row = {
            "reporter_id": ids["u1"],
            "target_type": target,
            "target_id": 1,
            "reason": "spam",
            "status": status,
            "created_at": created,
            "resolved_at": None if resolved is None else created + resolved * H,
        }
        ids[key] = insert(conn, "content_reports", [row])[0]
        if acted is not None:
            action_row = {
                "report_id": ids[key],
                "moderator_id": ids["u2"],
                "action": action,
                "target_type": target,
                "target_id": 1,
                "created_at": created + acted * H,
            }
            insert(conn, "moderation_actions", [action_row])
    quizzes = {"hard": ("community", "hard"), "easy": ("editorial", "easy")}
    quizzes["unset"] = ("editorial", None)
    for key, (source, difficulty) in quizzes.items():
        row = {"title": f"Quiz {key}", "source": source, "difficulty": difficulty}
        ids[key] = insert(conn, "quizzes", [row])[0]
    for quiz, user, hours, minutes, questions, score in ATTEMPTS:
        started = AS_OF - hours * H
        row = {
            "quiz_id": ids[quiz],
            "user_id": ids[user],
            "started_at": started,
            "finished_at": None if minutes is None else started + timedelta(minutes=minutes),
            "question_count": questions,
            "score": score,
        }
        insert(conn, "quiz_attempts", [row])
    return ids


def test_queue_counts_what_was_open_at_the_moment(conn: Connection, data: dict[str, int]) -> None:
    queue = moderation_queue(conn, as_of=AS_OF)
    assert list(queue.columns) == list(platform_health.QUEUE_COLUMNS)
    types = len(queue["target_type"].unique())
    assert len(queue) == types * len(platform_health.AGE_BUCKETS)  # zeros included
    counts = queue[queue["reports"] > 0].set_index(["target_type", "age"])["reports"]
    assert counts.to_dict() == {
        ("review", "under 1 day"): 1,
        ("review", "1-3 days"): 1,
        ("pulse", "1-4 weeks"): 1,  # resolved after AS_OF
        ("user", "over 4 weeks"): 1,
        ("quiz", "1-3 days"): 2,
        ("quiz", "3-7 days"): 1,  # acted on, still open
    }
    assert queue.set_index(["target_type", "age"]).loc[("user", "over 4 weeks"), "oldest_days"] == (
        pytest.approx(30.0)
    )
    # A day later p1 is resolved, and u1 (reported after AS_OF) is open.
    later = moderation_queue(conn, as_of=AS_OF + 24 * H)
    by_type = later.groupby("target_type")["reports"].sum()
    assert by_type["pulse"] == 0 and by_type["user"] == 2


def test_time_to_action_counts_the_waiting_reports(conn: Connection, data: dict[str, int]) -> None:
    result = time_to_action(conn, as_of=AS_OF).set_index("group")
    assert list(result.index) == ["pulse", "quiz", "review", "user"]
    quiz = result.loc["quiz"]
    assert (quiz["reports"], quiz["acted"], quiz["waiting"]) == (5, 3, 2)
    # Acted on at 1, 2 and 3 hours; two reports waiting for 50 and 60: the median wait is at
    # least 3 hours, where the acted-on reports alone say 2.
    assert quiz["median_hours"] == pytest.approx(3.0)
    assert quiz["acted_median_hours"] == pytest.approx(2.0)
    assert np.isnan(quiz["p90_hours"])  # 40 % are still waiting
    pulse = result.loc["pulse"]
    # p1's action came after AS_OF: waiting then. p3 is older than the window.
    assert (pulse["reports"], pulse["acted"], pulse["waiting"]) == (2, 1, 1)
    assert pulse["median_hours"] == pytest.approx(24.0)
    review = result.loc["review"]
    assert review["acted"] == 0 and np.isnan(review["median_hours"])
    assert result.loc["user", "reports"] == 1  # u1 was reported after AS_OF
    assert time_to_action(conn, as_of=AS_OF, days=120).loc[0, "reports"] == 3
    by_reason = time_to_action(conn, as_of=AS_OF, by="reason")
    assert list(by_reason["group"]) == ["spam"] and by_reason.loc[0, "reports"] == 10


def test_km_quantiles_without_censoring_are_the_empirical_quantiles() -> None:
    rng = np.random.default_rng(7)
    durations = rng.exponential(10, 200).round(1)
    events = np.ones(200, dtype=bool)
    median, p90 = km_quantiles(durations, events, (0.5, 0.9))
    assert median == np.quantile(durations, 0.5, method="inverted_cdf")
    assert p90 == np.quantile(durations, 0.9, method="inverted_cdf")
    # Censoring before the median moves it up, never down.
    events[durations < 5] = False
    assert km_quantiles(durations, events, (0.5,))[0] >= median


def test_quiz_engagement_as_of_the_moment(conn: Connection, data: dict[str, int]) -> None:
    result = quiz_engagement(conn, as_of=AS_OF, by="difficulty").set_index("group")
    assert list(result.index) == ["easy", "hard"]  # the unset quiz's attempt is 40 days old
    easy = result.loc["easy"]
    # u3 finished an hour after AS_OF: under way then.
    assert (easy["attempts"], easy["users"], easy["finished"]) == (3, 3, 1)
    assert easy["completion_rate"] == pytest.approx(1 / 3)
    assert easy["ci_low"] < 1 / 3 < easy["ci_high"]
    hard = result.loc["hard"]
    assert (hard["attempts"], hard["finished"], hard["completion_rate"]) == (3, 3, 1.0)
    assert hard["ci_high"] == pytest.approx(1.0) and hard["ci_low"] < 1
    wider = quiz_engagement(conn, as_of=AS_OF, days=60, by="source").set_index("group")
    assert wider.loc["editorial", "quizzes"] == 2 and wider.loc["editorial", "attempts"] == 4
    unset = quiz_engagement(conn, as_of=AS_OF, days=60, by="difficulty")
    assert "not set" in set(unset["group"])


def test_quiz_difficulty_uses_shares_of_finished_attempts(
    conn: Connection, data: dict[str, int]
) -> None:
    result = quiz_difficulty(conn, as_of=AS_OF, min_attempts=1)
    assert list(result["title"]) == ["Quiz hard", "Quiz easy", "Quiz unset"]
    hard = result.iloc[0]
    # 2/10, 1/5, 3/10: the mean share, not the mean score over the mean question count.
    assert hard["attempts"] == 3 and hard["mean_share"] == pytest.approx(0.7 / 3)
    from scipy import stats

    shares = np.array([0.2, 0.2, 0.3])
    low, high = stats.t.interval(0.95, 2, loc=shares.mean(), scale=stats.sem(shares))
    assert (hard["ci_low"], hard["ci_high"]) == (pytest.approx(low), pytest.approx(high))
    easy = result.iloc[1]
    # One finished attempt by AS_OF (9 of 10); the unfinished one is not a zero.
    assert easy["attempts"] == 1 and easy["mean_share"] == pytest.approx(0.9)
    assert np.isnan(easy["ci_low"])
    assert result.iloc[2]["difficulty"] == "not set"
    assert list(quiz_difficulty(conn, as_of=AS_OF, min_attempts=2)["title"]) == ["Quiz hard"]
    only = quiz_difficulty(conn, as_of=AS_OF, min_attempts=1, difficulty="easy")
    assert list(only["title"]) == ["Quiz easy"]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: moderation_queue(c, as_of="soon"), "as_of must be an ISO date"),
        (lambda c: time_to_action(c, days=0), "days must be a whole number from 1 to 3,650"),
        (lambda c: time_to_action(c, by="moderator"), "unknown by 'moderator'"),
        (lambda c: quiz_engagement(c, by="movie"), "unknown by 'movie'"),
        (lambda c: quiz_difficulty(c, min_attempts=0), "min_attempts must be a whole number"),
        (lambda c: quiz_difficulty(c, difficulty="brutal"), "unknown difficulty 'brutal'"),
        (lambda c: quiz_difficulty(c, limit=10_001), "limit must be a whole number"),
    ],
)
def test_validation_errors(conn: Connection, call: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message) as refused:
        call(conn)
    assert "\n" not in str(refused.value)


# --- the tiny demo dataset against pandas --------------------------------------------------


def test_tiny_queue_and_time_to_action_match_pandas(tiny: Connection) -> None:
    reports = pd.read_sql(
        text(
            "select r.id, r.target_type, r.created_at, r.resolved_at, "
            "(select min(m.created_at) from moderation_actions m where m.report_id = r.id) "
            "as first_action from content_reports r"
        ),
        tiny,
    )
    if reports.empty:
        pytest.skip("the tiny dataset has no moderation yet")
    at = pd.Timestamp(NOTEBOOK_AS_OF)
    open_then = reports[
        (reports["created_at"] <= at)
        & (reports["resolved_at"].isna() | (reports["resolved_at"] > at))
    ]
    queue = moderation_queue(tiny, as_of=NOTEBOOK_AS_OF)
    expected = open_then.groupby("target_type").size()
    got = queue.groupby("target_type")["reports"].sum()
    assert got[got > 0].to_dict() == expected.to_dict()

    window = reports[
        (reports["created_at"] <= at) & (reports["created_at"] > at - pd.Timedelta(days=90))
    ]
    acted_at = window[["first_action", "resolved_at"]].min(axis=1)
    acted = acted_at.notna() & (acted_at <= at)
    hours = ((acted_at.where(acted, at)) - window["created_at"]).dt.total_seconds() / 3600
    result = time_to_action(tiny, as_of=NOTEBOOK_AS_OF).set_index("group")
    for group, part in window.groupby("target_type"):
        mask = window["target_type"] == group
        assert result.loc[group, "acted"] == acted[mask].sum()
        median = km_quantiles(hours[mask].to_numpy(), acted[mask].to_numpy(), (0.5,))[0]
        np.testing.assert_allclose(result.loc[group, "median_hours"], median, rtol=1e-9)
        assert len(part) == result.loc[group, "reports"]


def test_tiny_quizzes_match_pandas(tiny: Connection) -> None:
    attempts = pd.read_sql(
        text(
            "select a.quiz_id, a.user_id, a.started_at, a.finished_at, a.score, "
            "a.question_count, q.source from quiz_attempts a join quizzes q on q.id = a.quiz_id"
        ),
        tiny,
    )
    if attempts.empty:
        pytest.skip("the tiny dataset has no quizzes yet")
    at = pd.Timestamp(NOTEBOOK_AS_OF)
    window = attempts[
        (attempts["started_at"] <= at) & (attempts["started_at"] > at - pd.Timedelta(days=30))
    ]
    finished = window["finished_at"].notna() & (window["finished_at"] <= at)
    expected = window.assign(finished=finished).groupby("source")
    got = quiz_engagement(tiny, as_of=NOTEBOOK_AS_OF, by="source").set_index("group")
    assert got["attempts"].to_dict() == expected.size().to_dict()
    assert got["finished"].to_dict() == expected["finished"].sum().to_dict()
    assert got["users"].to_dict() == expected["user_id"].nunique().to_dict()

    done = attempts[attempts["finished_at"].notna() & (attempts["finished_at"] <= at)]
    shares = (done["score"] / done["question_count"]).groupby(done["quiz_id"]).agg(["mean", "size"])
    shares = shares[shares["size"] >= 3].sort_values("mean")
    got_quizzes = quiz_difficulty(tiny, as_of=NOTEBOOK_AS_OF, min_attempts=3, limit=10_000)
    assert len(got_quizzes) == len(shares)
    np.testing.assert_allclose(got_quizzes["mean_share"], shares["mean"])


# --- charts ---------------------------------------------------------------------------------


def test_charts_draw_the_results(conn: Connection, data: dict[str, int]) -> None:
    from iwm_lab import charts

    queue = charts.moderation_queue_chart(moderation_queue(conn, as_of=AS_OF))
    assert [trace.name for trace in queue.data] == [
        label for label, _ in platform_health.AGE_BUCKETS
    ]
    times = charts.time_to_action_chart(time_to_action(conn, as_of=AS_OF))
    assert [trace.name for trace in times.data] == ["Median", "90th percentile"]
    engagement = charts.quiz_engagement_chart(quiz_engagement(conn, as_of=AS_OF))
    assert list(engagement.data[0].y) == ["community", "editorial"]
    hardest = charts.quiz_difficulty_chart(quiz_difficulty(conn, as_of=AS_OF, min_attempts=1))
    assert hardest.data[0].y[0] == "Quiz hard"
    before = datetime(2020, 1, 1)
    for figure in (
        charts.moderation_queue_chart(moderation_queue(conn, as_of=before)),
        charts.time_to_action_chart(time_to_action(conn, as_of=before)),
        charts.quiz_engagement_chart(quiz_engagement(conn, as_of=before)),
        charts.quiz_difficulty_chart(quiz_difficulty(conn, as_of=before)),
    ):
        assert len(figure.data) == 0 and figure.layout.annotations[0].text == charts.NO_DATA


# --- findings -------------------------------------------------------------------------------


def test_findings_are_dated_and_count_the_waiting(conn: Connection, data: dict[str, int]) -> None:
    from iwm_lab.findings import platform_health as findings

    queue = findings.queue(moderation_queue(conn, as_of=AS_OF), as_of=AS_OF)
    assert queue == [
        "At 2026-11-01 UTC, 7 reports were open, 2 of them for more than a week; the most "
        "were about a quiz (3)."
    ]
    action = findings.action(time_to_action(conn, as_of=AS_OF), days=90)
    assert action == [
        "Reports about a pulse waited longest: half were acted on within 1 day, too many are "
        "still waiting to say when nine in ten were.",
        "6 reports of the last 90 days are still waiting and count as not acted on yet.",
    ]
    engagement = findings.engagement(quiz_engagement(conn, as_of=AS_OF), days=30)
    assert engagement[0].startswith("6 quiz attempts started in the last 30 days, 66.7% finished")
    hardest = findings.difficulty(
        quiz_difficulty(conn, as_of=AS_OF, min_attempts=2), min_attempts=2
    )
    assert hardest[0].startswith(
        "The hardest quiz with at least 2 finished attempts is *Quiz hard*"
    )
    before = datetime(2020, 1, 1)
    assert findings.queue(moderation_queue(conn, as_of=before), as_of=before) == [
        "No report was open at 2020-01-01 UTC."
    ]
