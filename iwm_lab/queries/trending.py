"""Trending topics: hashtag counts from pulses, live or as stored by the daily refresh.

Tags are counted exactly as the migration's SQL function ``refresh_trending_topics`` counts
them, so a live count and the stored table agree:

- ``pulses.hashtags`` must be a JSON array (text starting with ``[`` that parses); other
  values, and elements that are not strings, are ignored, never fatal.
- A tag is normalised as ``lower(trim(ltrim(trim(tag), '#')))``: spaces trimmed, every
  leading ``#`` stripped, lower-cased, so ``#Dune``, ``dune`` and `` ##DUNE `` are one tag.
  Tags empty after that, or longer than ``trending_topics.tag`` (120), are skipped.
- A tag counts once per pulse, however often the pulse repeats it.
- A tag's ``category`` is the ``linked_type`` of most of its pulses (``general`` when a pulse
  links nothing), ties alphabetical.
- A window of N days ending at ``as_of`` holds the pulses with
  ``as_of - N days < created_at <= as_of``: a pulse exactly N days old is out, as in the SQL
  function. ``as_of`` defaults to the transaction's ``localtimestamp``, the clock the SQL
  function uses. (The SQL function has no upper bound: it also counts pulses dated in the
  future, which the live counts leave out.)

Windowed functions take ``source``: ``"pulses"`` (default, what the SQL function reads) or
``"pulses_partitioned"``, the migration's partitioned twin, which gives the same results
when it holds the same rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta

import pandas as pd
from sqlalchemy import (
    BigInteger,
    Connection,
    DateTime,
    Float,
    FromClause,
    Interval,
    String,
    Text,
    and_,
    case,
    cast,
    column,
    func,
    literal,
    literal_column,
    select,
    table,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import CTE

from iwm_lab.exceptions import IwmLabError
from iwm_lab.models import Pulse, TrendingTopic
from iwm_lab.models.values import TRENDING_CATEGORIES, TRENDING_WINDOWS
from iwm_lab.queries._common import (
    check_choice,
    check_date_range,
    check_limit,
    check_text,
    frame,
)

FREQUENCIES: tuple[str, ...] = ("day", "week", "month")
_STEPS = {"day": "1 day", "week": "1 week", "month": "1 month"}
MAX_TAGS = 100
MAX_DAYS = 3650
MAX_TAG_LENGTH = 120  # trending_topics.tag

_TWIN = table(
    "pulses_partitioned",
    column("id", BigInteger),
    column("created_at", DateTime),
    column("hashtags", Text),
    column("linked_type", String),
)
PULSE_SOURCES: dict[str, FromClause] = {"pulses": Pulse.__table__, "pulses_partitioned": _TWIN}


class ReadOnlySessionError(IwmLabError):
    """A write was asked of a read-only session (analysts' sessions are read-only)."""


def _normalised(raw: ColumnElement[str]) -> ColumnElement[str]:
    return func.lower(func.trim(func.ltrim(func.trim(raw), "#")))


def _mentions(
    source: FromClause, *conditions: ColumnElement[bool], only: list[str] | None = None
) -> CTE:
    """One row per (pulse, normalised tag) among the pulses meeting ``conditions``:
    ``id``, ``category``, ``created_at``, ``tag``; only the tags in ``only`` if given."""
    hashtags = source.c.hashtags
    # The CASE keeps the cast from ever seeing invalid JSON (one bad row must not abort the
    # query); the regex spares pg_input_is_valid most non-arrays. Valid JSON that starts with
    # '[' is an array, so jsonb_array_elements never fails on what passes.
    doc = case(
        (
            and_(
                hashtags.regexp_match("^[[:space:]]*[[]"),
                func.pg_input_is_valid(hashtags, "jsonb"),
            ),
            cast(hashtags, JSONB),
        )
    )
    # Both as functions in FROM (implicitly LATERAL): evaluated once per row, where a CTE
    # column or a select-list expression would be recomputed at each reference.
    element = func.jsonb_array_elements(doc).table_valued("value").render_derived("e")
    raw = element.c.value.op("#>>")(literal_column("'{}'"))
    normalised = _normalised(raw).table_valued("tag").render_derived("t")
    # Each pulse's tags deduplicated on their own: a global DISTINCT over (pulse, tag) would
    # sort the whole window, or tempt the planner into reading every pulse in id order.
    tags = (
        select(normalised.c.tag)
        .distinct()
        .select_from(element.join(normalised, true()))
        .where(
            func.jsonb_typeof(element.c.value) == "string",
            normalised.c.tag != "",
            func.char_length(normalised.c.tag) <= MAX_TAG_LENGTH,
            normalised.c.tag.in_(only) if only is not None else true(),
        )
        .lateral("tags")
    )
    return (
        select(
            source.c.id,
            func.coalesce(source.c.linked_type, "general").label("category"),
            source.c.created_at,
            tags.c.tag,
        )
        .select_from(source.join(tags, true()))
        .where(hashtags.is_not(None), *conditions)
        .cte("mentions")
    )


def _check_days(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_DAYS:
        raise ValueError(
            f"{name} must be a whole number of days from 1 to {MAX_DAYS}, got {value!r}"
        )
    return value


def _check_naive(value: datetime | None, name: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise ValueError(f"{name} must be a datetime, got {value!r}")
    if value.tzinfo is not None:
        raise ValueError(
            f"{name} must be a naive datetime: pulses.created_at is a timestamp without time "
            f"zone, in the database session's local time"
        )
    return value


def _check_source(source: str) -> FromClause:
    check_choice(source, PULSE_SOURCES, "source")
    return PULSE_SOURCES[source]


def _clock(as_of: datetime | None) -> ColumnElement[datetime]:
    if as_of is None:
        return func.localtimestamp()
    return literal(as_of, DateTime())


def _days(n: int) -> ColumnElement[timedelta]:
    return literal(timedelta(days=n), Interval())


COUNT_COLUMNS: dict[str, str] = {"tag": "str", "category": "str", "count": "int64"}


def hashtag_counts(
    conn: Connection,
    *,
    window_days: int = 7,
    as_of: datetime | None = None,
    category: str | None = None,
    limit: int = 50,
    source: str = "pulses",
) -> pd.DataFrame:
    """The most used tags of the ``window_days`` days up to ``as_of``, counted live.

    Counted as the module docstring says (the refresh's rules): window
    ``as_of - window_days < created_at <= as_of``, ``as_of`` defaulting to the transaction's
    ``localtimestamp``. ``category`` keeps the tags whose category (that of most of their
    pulses in the window) is the one given: one of movie, cricket, event, general.

    At most ``limit`` rows, sorted by ``count`` (descending), then tag. Columns:

    - ``tag``: the normalised tag.
    - ``category``: movie, cricket or general (from the pulses' ``linked_type``).
    - ``count``: pulses in the window mentioning the tag.
    """
    _check_days(window_days, "window_days")
    _check_naive(as_of, "as_of")
    if category is not None:
        check_choice(category, TRENDING_CATEGORIES, "category")
    check_limit(limit)
    pulses = _check_source(source)

    until = _clock(as_of)
    mentions = _mentions(
        pulses,
        pulses.c.created_at > until - _days(window_days),
        pulses.c.created_at <= until,
    )
    per_category = (
        select(mentions.c.tag, mentions.c.category, func.count().label("n"))
        .group_by(mentions.c.tag, mentions.c.category)
        .cte("per_category")
    )
    ranked = select(
        per_category.c.tag,
        per_category.c.category,
        cast(func.sum(per_category.c.n).over(partition_by=per_category.c.tag), BigInteger).label(
            "total"
        ),
        func.row_number()
        .over(
            partition_by=per_category.c.tag,
            order_by=(per_category.c.n.desc(), per_category.c.category),
        )
        .label("pick"),
    ).cte("ranked")
    stmt = (
        select(ranked.c.tag, ranked.c.category, ranked.c.total.label("count"))
        .where(ranked.c.pick == 1)
        .where(ranked.c.category == category if category is not None else true())
        .order_by(ranked.c.total.desc(), ranked.c.tag)
        .limit(limit)
    )
    return frame(conn, stmt, COUNT_COLUMNS)


TOPIC_COLUMNS: dict[str, str] = {
    "tag": "str",
    "category": "str",
    "window_label": "str",
    "count": "int64",
    "computed_at": "datetime64[us]",
}


def trending_topics(
    conn: Connection, *, window: str = "7d", category: str | None = None, limit: int = 50
) -> pd.DataFrame:
    """The stored trending tags of one window, as the last refresh wrote them.

    ``window`` is ``7d`` or ``30d``; ``category`` one of movie, cricket, event, general.
    At most ``limit`` rows, sorted by ``count`` (descending), tag, id. Columns:

    - ``tag``, ``category``: the normalised tag and its category.
    - ``window_label``: the window asked for.
    - ``count``: pulses in the window mentioning the tag when it was computed (a NULL count,
      which the refresh never writes, reads as 0).
    - ``computed_at``: when the refresh ran (the refreshing transaction's start).
    """
    check_choice(window, TRENDING_WINDOWS, "window")
    if category is not None:
        check_choice(category, TRENDING_CATEGORIES, "category")
    check_limit(limit)
    t = TrendingTopic.__table__
    count = func.coalesce(t.c.count, 0)
    stmt = (
        select(t.c.tag, t.c.category, t.c.window_label, count.label("count"), t.c.computed_at)
        .where(t.c.window_label == window)
        .where(t.c.category == category if category is not None else true())
        .order_by(count.desc(), t.c.tag, t.c.id)
        .limit(limit)
    )
    return frame(conn, stmt, TOPIC_COLUMNS)


def refresh_trending_topics(conn: Connection, *, window: str = "7d") -> pd.DataFrame:
    """Recompute one window of ``trending_topics`` now, and return its new rows.

    Runs the migration's SQL function ``refresh_trending_topics(window)``, which replaces the
    window's rows with the top 50 tags of the pulses created in the last 7 or 30 days. That is
    a write: ``conn`` must be writable (``iwm_lab.connect(writable=True)``); a read-only one
    raises :class:`ReadOnlySessionError` before anything runs. When ``conn`` has no transaction
    open, the refresh runs in its own and is committed; inside a transaction already open on
    ``conn`` (including one begun implicitly by an earlier query) it is left to the caller to
    commit.

    Returns what :func:`trending_topics` returns for the window (columns ``tag``,
    ``category``, ``window_label``, ``count``, ``computed_at``), read in the same transaction.
    """
    check_choice(window, TRENDING_WINDOWS, "window")
    if not conn.in_transaction():
        with conn.begin():
            return _refresh(conn, window)
    return _refresh(conn, window)


def _refresh(conn: Connection, window: str) -> pd.DataFrame:
    if conn.execute(text("SELECT current_setting('transaction_read_only')")).scalar_one() == "on":
        raise ReadOnlySessionError(
            "refresh_trending_topics writes to trending_topics, but this session is read-only; "
            "use a writable connection: iwm_lab.connect(writable=True)"
        )
    conn.execute(select(func.refresh_trending_topics(window)))
    return trending_topics(conn, window=window, limit=50)


SERIES_COLUMNS: dict[str, str] = {"period": "datetime64[us]", "tag": "str", "count": "int64"}


def _check_day(value: date, name: str) -> date:
    """A day; a datetime stands for the day it falls on (as in ``ratings.review_volume``)."""
    if isinstance(value, datetime):
        return value.date()
    if not isinstance(value, date):
        raise ValueError(f"{name} must be a date, got {value!r}")
    return value


def _check_tags(tags: Sequence[str]) -> list[str]:
    items = [tags] if isinstance(tags, str) else list(tags)
    if not 1 <= len(items) <= MAX_TAGS:
        raise ValueError(f"tags must name 1 to {MAX_TAGS} tags, got {len(items)}")
    for tag in items:
        check_text(tag, "tag", 2 * MAX_TAG_LENGTH)
        # The same trimming as SQL's trim() (spaces only) and ltrim(..., '#').
        if not tag.strip(" ").lstrip("#").strip(" "):
            raise ValueError(f"tag {tag!r} is empty once normalised")
    return items


def hashtag_timeseries(
    conn: Connection,
    *,
    tags: str | Sequence[str],
    start: date,
    end: date,
    freq: str = "day",
    source: str = "pulses",
) -> pd.DataFrame:
    """How often each of ``tags`` was used, per day, week or month.

    ``tags`` (1 to 100) are normalised like stored tags (``#Dune`` asks for ``dune``;
    spellings that normalise alike are one tag). Counts every pulse created from ``start``
    through ``end`` (whole days, inclusive; a datetime stands for its day); weeks start on
    Monday. One row per period overlapping the range and per tag, zero-filled, sorted by
    period, then tag; the first and last periods count only the days inside the range.

    - ``period`` (datetime64[us]): the period's first moment (midnight; a Monday; the 1st).
    - ``tag``: the normalised tag.
    - ``count``: pulses in the period mentioning the tag (once per pulse), 0 when none.
    """
    wanted_tags = _check_tags(tags)
    first_day, last_day = _check_day(start, "start"), _check_day(end, "end")
    check_date_range(first_day, last_day, ("start", "end"))
    check_choice(freq, FREQUENCIES, "freq")
    pulses = _check_source(source)

    since = datetime.combine(first_day, time())
    until = datetime.combine(last_day + timedelta(days=1), time())
    # Normalised by the database, with the expression the counts use. Passed on as a list,
    # not as a CTE: a CTE would keep the main query from running in parallel.
    raw = func.unnest(literal(wanted_tags, ARRAY(Text))).table_valued("raw").render_derived("r")
    normal = sorted(conn.execute(select(_normalised(raw.c.raw)).distinct()).scalars())
    wanted = func.unnest(literal(normal, ARRAY(Text))).table_valued("tag").render_derived("w")
    mentions = _mentions(
        pulses,
        pulses.c.created_at >= literal(since),
        pulses.c.created_at < literal(until),
        only=normal,
    )
    period = func.date_trunc(freq, mentions.c.created_at)
    counts = (
        select(period.label("period"), mentions.c.tag, func.count().label("n"))
        .group_by(period, mentions.c.tag)
        .cte("counts")
    )
    periods = (
        func.generate_series(
            func.date_trunc(freq, literal(since)),
            func.date_trunc(freq, literal(datetime.combine(last_day, time()))),
            cast(literal(_STEPS[freq]), Interval),
        )
        .table_valued("period")
        .render_derived("periods")
    )
    stmt = (
        select(periods.c.period, wanted.c.tag, func.coalesce(counts.c.n, 0).label("count"))
        .select_from(
            periods.join(wanted, true()).outerjoin(
                counts, and_(counts.c.period == periods.c.period, counts.c.tag == wanted.c.tag)
            )
        )
        .order_by(periods.c.period, wanted.c.tag)
    )
    return frame(conn, stmt, SERIES_COLUMNS)


RISING_COLUMNS: dict[str, str] = {
    "tag": "str",
    "window_count": "int64",
    "baseline_count": "int64",
    "window_rate": "float64",
    "baseline_rate": "float64",
    "growth": "float64",
    "is_new": "bool",
}


def rising_tags(
    conn: Connection,
    *,
    window_days: int = 7,
    baseline_days: int = 28,
    min_count: int = 5,
    as_of: datetime | None = None,
    limit: int = 50,
    source: str = "pulses",
) -> pd.DataFrame:
    """Tags used more per day lately than in the period before.

    The window is ``as_of - window_days < created_at <= as_of`` (``as_of`` defaults to the
    transaction's ``localtimestamp``), the baseline the ``baseline_days`` just before it;
    tags are counted as in :func:`hashtag_counts`. A tag is rising when it has at least
    ``min_count`` pulses in the window and a higher rate per day there than in the baseline;
    it is new when the baseline has none of it.

    At most ``limit`` rows: new tags first, then by ``growth`` (descending), window count
    (descending), tag. Columns:

    - ``tag``: the normalised tag.
    - ``window_count``, ``baseline_count``: pulses mentioning it in each period.
    - ``window_rate``, ``baseline_rate``: those counts per day of their period.
    - ``growth``: ``window_rate / baseline_rate``; NaN for a new tag.
    - ``is_new``: no pulse of the baseline mentions it.
    """
    _check_days(window_days, "window_days")
    _check_days(baseline_days, "baseline_days")
    check_limit(min_count, "min_count")
    _check_naive(as_of, "as_of")
    check_limit(limit)
    pulses = _check_source(source)

    until = _clock(as_of)
    split = until - _days(window_days)
    mentions = _mentions(
        pulses,
        pulses.c.created_at > split - _days(baseline_days),
        pulses.c.created_at <= until,
    )
    in_window = mentions.c.created_at > split
    per_tag = (
        select(
            mentions.c.tag,
            func.count().filter(in_window).label("window_count"),
            func.count().filter(~in_window).label("baseline_count"),
        )
        .group_by(mentions.c.tag)
        .cte("per_tag")
    )
    window_rate = cast(per_tag.c.window_count, Float) / window_days
    baseline_rate = cast(per_tag.c.baseline_count, Float) / baseline_days
    is_new = per_tag.c.baseline_count == 0
    # Rates compared and divided as integer cross-products: equal growths are equal floats, so
    # ties fall to window_count, not to rounding noise.
    scaled_window = per_tag.c.window_count * baseline_days
    scaled_baseline = per_tag.c.baseline_count * window_days
    growth = cast(scaled_window, Float) / func.nullif(scaled_baseline, 0)
    stmt = (
        select(
            per_tag.c.tag,
            per_tag.c.window_count,
            per_tag.c.baseline_count,
            window_rate.label("window_rate"),
            baseline_rate.label("baseline_rate"),
            growth.label("growth"),
            is_new.label("is_new"),
        )
        .where(per_tag.c.window_count >= min_count, scaled_window > scaled_baseline)
        .order_by(
            is_new.desc(),
            growth.desc().nulls_first(),
            per_tag.c.window_count.desc(),
            per_tag.c.tag,
        )
        .limit(limit)
    )
    return frame(conn, stmt, RISING_COLUMNS)
