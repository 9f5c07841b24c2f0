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
  function. ``as_of`` defaults to the transaction's ``localtimestamp``, the SQL function's
  default too. It may be a ``datetime``, a ``date`` (its midnight: "as of 2026-11-01" ends
  as that day begins) or an ISO string; an aware datetime is converted to UTC.

A window that holds nothing gives an empty frame; :func:`window_totals` and
:func:`pulse_span` say why (no pulses in it at all, or none with a tag, and where the pulses
are), and :func:`trending_refreshes` says what the stored list was last computed for
(:func:`iwm_lab.operations.refresh_trending_topics` writes it).
:mod:`iwm_lab.findings.trending` turns those into sentences.

The normalisation is the migration's SQL function ``iwm_pulse_tags(hashtags)``, used by the
refresh, the rollups and the live counts alike. The windowed functions (:func:`hashtag_counts`,
:func:`hashtag_timeseries`, :func:`rising_tags`, :func:`new_tags`, and the ``tags`` of
:func:`window_totals`) add up whole hours from the rollup ``pulse_tag_hours`` (the ``pulses``
and ``tagged_pulses`` of :func:`window_totals` from ``pulse_hours``) and count the rest from
``pulses`` itself: the partial hours at a window's edges and every pulse created after the
rollup's last refresh (each rollup up to its own). New pulses are therefore counted at once; a
pulse edited or deleted after the refresh counts as it was until the next one
(``iwm-lab db refresh``).

Rising tags are established ones, used in the baseline before the window and more per day
since (:func:`rising_tags`); tags the baseline lacks are new (:func:`new_tags`), listed apart
so that a crowd of small newcomers never hides a tag that grew fifty times over.

Ranges, checked before any query (a ``ValueError`` naming the range otherwise):
``window_days`` and ``baseline_days`` 1 to 3,650; ``limit`` and ``min_count`` 1 to 10,000;
``as_of``, ``start`` and ``end`` in the years 1870-2100; 1 to 100 tags of at most 240
characters; a series of at most 10,000 periods.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from itertools import pairwise

import pandas as pd
from sqlalchemy import (
    BigInteger,
    Connection,
    DateTime,
    Float,
    Integer,
    Select,
    String,
    TableClause,
    Text,
    and_,
    case,
    cast,
    column,
    func,
    literal,
    or_,
    select,
    table,
    true,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import CTE

from iwm_lab.models import Pulse, TrendingTopic
from iwm_lab.models.values import TRENDING_CATEGORIES, TRENDING_WINDOW_DAYS, TRENDING_WINDOWS
from iwm_lab.queries._common import (
    FREQUENCIES,
    check_choice,
    check_date_range,
    check_day,
    check_int,
    check_limit,
    check_list,
    check_moment,
    check_periods,
    check_text,
    frame,
    period_starts,
)
from iwm_lab.rollups import PULSE_HOURS, PULSE_TAG_HOURS, ROLLUP_REFRESHES

MAX_TAGS = 100
MAX_DAYS = 3650
MAX_TAG_LENGTH = 120  # trending_topics.tag

# What as_of, start and end accept (iwm_lab.queries._common.check_moment).
Moment = datetime | date | str

_HOUR = timedelta(hours=1)
# The resolution of a timestamp: the window (a, b] holds the same pulses as [a + tick, b + tick).
_TICK = timedelta(microseconds=1)


def _normalised(raw: ColumnElement[str]) -> ColumnElement[str]:
    """A tag as the given text normalises (for tags asked for by name)."""
    return func.lower(func.trim(func.ltrim(func.trim(raw), "#")))


def _floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _ceil_hour(moment: datetime) -> datetime:
    floor = _floor_hour(moment)
    return floor if floor == moment else floor + _HOUR


def _clock(conn: Connection, as_of: datetime | None) -> tuple[datetime, datetime | None]:
    """``as_of`` (default: the transaction's ``localtimestamp``), and the hour up to which
    ``pulse_tag_hours`` holds the pulses (None before its first refresh)."""
    until, (covered_until,) = _clocks(conn, as_of, "pulse_tag_hours")
    return until, covered_until


def _clocks(
    conn: Connection, as_of: datetime | None, *rollups: str
) -> tuple[datetime, list[datetime | None]]:
    """:func:`_clock` for several rollups (``pulse_tag_hours``, ``pulse_hours``) in one
    query. Each has its own hour: an import may refresh one and not the other."""
    covered = [
        select(ROLLUP_REFRESHES.c.covered_until)
        .where(ROLLUP_REFRESHES.c.name == name)
        .scalar_subquery()
        for name in rollups
    ]
    now, *covered_until = conn.execute(select(func.localtimestamp(), *covered)).one()
    return (as_of if as_of is not None else now), covered_until


def _split(
    cuts: Sequence[datetime], covered_until: datetime | None
) -> tuple[list[tuple[datetime, datetime]], list[tuple[datetime, datetime]]]:
    """The half-open ranges between consecutive ``cuts``, split into those the rollup answers
    (whole hours before ``covered_until``) and those read from the pulses."""
    whole: list[tuple[datetime, datetime]] = []
    raw: list[tuple[datetime, datetime]] = []

    def add_raw(lo: datetime, hi: datetime) -> None:
        if raw and raw[-1][1] == lo:
            raw[-1] = (raw[-1][0], hi)
        elif lo < hi:
            raw.append((lo, hi))

    for lo, hi in pairwise(cuts):
        first = _ceil_hour(lo)
        last = _floor_hour(hi) if covered_until is None else min(_floor_hour(hi), covered_until)
        if covered_until is None or first >= last:
            add_raw(lo, hi)
            continue
        add_raw(lo, first)
        whole.append((first, last))
        add_raw(last, hi)
    return whole, raw


def _in_ranges(
    moment: ColumnElement[datetime], ranges: list[tuple[datetime, datetime]]
) -> ColumnElement[bool]:
    """``moment`` in one of the (sorted, disjoint) half-open ``ranges``."""
    within = or_(*(and_(moment >= literal(lo), moment < literal(hi)) for lo, hi in ranges))
    if len(ranges) == 1:
        return within
    # The span of them all too: one index range to scan, the gaps between them filtered out.
    # Given the branches alone, the planner ORs one bitmap per range and then visits the rows
    # in the table, where a covering index would answer alone.
    return and_(moment >= literal(ranges[0][0]), moment < literal(ranges[-1][1]), within)


def _tag_counts(
    cuts: Sequence[datetime], covered_until: datetime | None, only: list[str] | None = None
) -> CTE:
    """Pulses per tag from ``cuts[0]`` (inclusive) to ``cuts[-1]`` (exclusive): rows ``at``,
    ``tag``, ``category``, ``n``; ``n`` pulses of that category mentioned the tag at ``at``
    (an hour of the rollup, or a pulse's own time). No row spans a cut, so grouping by the
    intervals between cuts is exact. Only the tags in ``only`` when given."""
    whole, raw = _split(cuts, covered_until)
    parts: list[Select[tuple[datetime, str, str, int]]] = []
    if whole:
        hours = PULSE_TAG_HOURS
        parts.append(
            select(
                hours.c.hour.label("at"),
                hours.c.tag,
                hours.c.category,
                hours.c.pulses.label("n"),
            ).where(
                _in_ranges(hours.c.hour, whole),
                hours.c.tag.in_(only) if only is not None else true(),
            )
        )
    if raw:
        pulses = Pulse.__table__
        tags = func.iwm_pulse_tags(pulses.c.hashtags).table_valued("tag").render_derived("t")
        parts.append(
            select(
                pulses.c.created_at.label("at"),
                tags.c.tag,
                func.coalesce(pulses.c.linked_type, "general").label("category"),
                literal(1, BigInteger).label("n"),
            )
            .select_from(pulses.join(tags, true()))
            .where(
                pulses.c.hashtags.is_not(None),
                _in_ranges(pulses.c.created_at, raw),
                tags.c.tag.in_(only) if only is not None else true(),
            )
        )
    return union_all(*parts).cte("tag_counts")


def _check_days(value: int, name: str) -> int:
    return check_int(value, name, 1, MAX_DAYS)


def _check_as_of(value: Moment | None) -> datetime | None:
    return None if value is None else check_moment(value, "as_of")


COUNT_COLUMNS: dict[str, str] = {"tag": "str", "category": "str", "count": "int64"}


def hashtag_counts(
    conn: Connection,
    *,
    window_days: int = 7,
    as_of: Moment | None = None,
    category: str | None = None,
    limit: int = 50,
) -> pd.DataFrame:
    """The most used tags of the ``window_days`` days up to ``as_of``, counted live.

    Counted as the module docstring says (the refresh's rules): window
    ``as_of - window_days < created_at <= as_of``, ``as_of`` (datetime, date or ISO string)
    defaulting to the transaction's ``localtimestamp``. ``category`` keeps the tags whose
    category (that of most of their pulses in the window) is the one given: one of movie,
    cricket, event, general. No rows when the window has no tagged pulse (of that category):
    :func:`window_totals` and :func:`pulse_span` tell which.

    At most ``limit`` rows, sorted by ``count`` (descending), then tag. Columns:

    - ``tag``: the normalised tag.
    - ``category``: movie, cricket or general (from the pulses' ``linked_type``).
    - ``count``: pulses in the window mentioning the tag.
    """
    _check_days(window_days, "window_days")
    moment = _check_as_of(as_of)
    if category is not None:
        check_choice(category, TRENDING_CATEGORIES, "category")
    check_limit(limit)

    until, covered_until = _clock(conn, moment)
    since = until - timedelta(days=window_days)
    counts = _tag_counts([since + _TICK, until + _TICK], covered_until)
    per_category = (
        select(counts.c.tag, counts.c.category, func.sum(counts.c.n).label("n"))
        .group_by(counts.c.tag, counts.c.category)
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


TOTAL_COLUMNS: dict[str, str] = {
    "start": "datetime64[us]",
    "end": "datetime64[us]",
    "pulses": "int64",
    "tagged_pulses": "int64",
    "tags": "int64",
}


def window_totals(
    conn: Connection, *, window_days: int = 7, as_of: Moment | None = None
) -> pd.DataFrame:
    """What the window of :func:`hashtag_counts` holds as a whole: one row.

    The window is ``start < created_at <= end`` with ``end`` = ``as_of`` (default: the
    transaction's ``localtimestamp``) and ``start`` = ``end - window_days``. Columns:

    - ``start``, ``end``: the window's bounds.
    - ``pulses``: pulses created in it, with or without tags.
    - ``tagged_pulses``: those of them with at least one tag (as the module docstring
      normalises them): the base of a tag's share of the window.
    - ``tags``: distinct tags used in it.

    ``pulses`` and ``tagged_pulses`` add up whole hours from the rollup ``pulse_hours`` and
    count the rest from ``pulses`` itself, as the module docstring says of the tags.
    """
    _check_days(window_days, "window_days")
    moment = _check_as_of(as_of)
    until, (covered_until, hours_covered_until) = _clocks(
        conn, moment, "pulse_tag_hours", "pulse_hours"
    )
    since = until - timedelta(days=window_days)
    cuts = [since + _TICK, until + _TICK]
    counts = _pulse_counts(cuts, hours_covered_until)
    tag_counts = _tag_counts(cuts, covered_until)
    # Grouped (hashed) rather than count(DISTINCT), which sorts every row of the window.
    used_tags = select(tag_counts.c.tag).group_by(tag_counts.c.tag).subquery("used_tags")
    distinct_tags = select(func.count()).select_from(used_tags).scalar_subquery()
    stmt = select(
        literal(since).label("start"),
        literal(until).label("end"),
        cast(func.coalesce(func.sum(counts.c.pulses), 0), BigInteger).label("pulses"),
        cast(func.coalesce(func.sum(counts.c.tagged_pulses), 0), BigInteger).label("tagged_pulses"),
        distinct_tags.label("tags"),
    )
    return frame(conn, stmt, TOTAL_COLUMNS)


def _pulse_counts(cuts: Sequence[datetime], covered_until: datetime | None) -> CTE:
    """Pulses, and those with a tag, from ``cuts[0]`` (inclusive) to ``cuts[-1]``
    (exclusive): rows ``pulses``, ``tagged_pulses`` to add up, from the whole hours of
    ``pulse_hours`` (before ``covered_until``) and from ``pulses`` for the rest."""
    whole, raw = _split(cuts, covered_until)
    parts: list[Select[int, int]] = []
    if whole:
        hours = PULSE_HOURS
        parts.append(
            select(
                func.sum(hours.c.pulses).label("pulses"),
                func.sum(hours.c.tagged_pulses).label("tagged_pulses"),
            ).where(_in_ranges(hours.c.hour, whole))
        )
    if raw:
        pulses = Pulse.__table__
        tags = func.iwm_pulse_tags(pulses.c.hashtags).table_valued("tag").render_derived("t")
        # A lateral join rather than EXISTS: the planner then parses each distinct hashtags
        # text once (Memoize), however many pulses repeat it.
        first_tag = select(tags.c.tag).limit(1).lateral("first_tag")
        parts.append(
            select(
                func.count().label("pulses"),
                func.count(first_tag.c.tag).label("tagged_pulses"),
            )
            .select_from(pulses.outerjoin(first_tag, true()))
            .where(_in_ranges(pulses.c.created_at, raw))
        )
    return union_all(*parts).cte("pulse_counts")


def pulse_span(conn: Connection) -> tuple[datetime | None, datetime | None]:
    """When the earliest and the latest pulse were created (any pulse, tagged or not);
    ``(None, None)`` when there are none. Where a window came out empty, this says whether
    the data ends before it or starts after it."""
    p = Pulse.__table__
    earliest, latest = conn.execute(
        select(func.min(p.c.created_at), func.max(p.c.created_at))
    ).one()
    return earliest, latest


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
    At most ``limit`` rows, sorted by ``count`` (descending), tag, id. No rows when the
    window was never refreshed, or its last refresh found no tagged pulse:
    :func:`trending_refreshes` tells which, and for which as-of. Columns:

    - ``tag``, ``category``: the normalised tag and its category.
    - ``window_label``: the window asked for.
    - ``count``: pulses in the window mentioning the tag when it was computed (a NULL count,
      which the refresh never writes, reads as 0).
    - ``computed_at``: the as-of the refresh counted back from, the end of its window (the
      refreshing transaction's ``localtimestamp`` unless it was given one).
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


# Written by the SQL function refresh_trending_topics (migration 0003); no model of its own.
TRENDING_REFRESHES: TableClause = table(
    "trending_refreshes",
    column("window_label", String),
    column("as_of", DateTime),
    column("refreshed_at", DateTime),
    column("topics", Integer),
)
REFRESH_COLUMNS: dict[str, str] = {
    "window_label": "str",
    "as_of": "datetime64[us]",
    "refreshed_at": "datetime64[us]",
    "topics": "int64",
}


def trending_refreshes(conn: Connection) -> pd.DataFrame:
    """The last refresh of each stored window: one row per window refreshed at least once
    (since migration 0003, which recorded the windows that then held rows), shortest window
    first. Columns:

    - ``window_label``: ``7d`` or ``30d``.
    - ``as_of``: the moment the refresh counted back from (its window is the N days up to it).
    - ``refreshed_at``: when it ran (the refreshing transaction's ``localtimestamp``).
    - ``topics``: rows it wrote to ``trending_topics``, 0 when its window held no tag.
    """
    r = TRENDING_REFRESHES
    length = case(TRENDING_WINDOW_DAYS, value=r.c.window_label, else_=MAX_DAYS)
    stmt = select(r.c.window_label, r.c.as_of, r.c.refreshed_at, r.c.topics).order_by(
        length, r.c.window_label
    )
    return frame(conn, stmt, REFRESH_COLUMNS)


SERIES_COLUMNS: dict[str, str] = {"period": "datetime64[us]", "tag": "str", "count": "int64"}


def _check_tags(tags: Sequence[str]) -> list[str]:
    items = [tags] if isinstance(tags, str) else check_list(tags, "tags", MAX_TAGS)
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
    start: Moment,
    end: Moment,
    freq: str = "day",
) -> pd.DataFrame:
    """How often each of ``tags`` was used, per day, week or month.

    ``tags`` (1 to 100) are normalised like stored tags (``#Dune`` asks for ``dune``;
    spellings that normalise alike are one tag). Counts every pulse created from ``start``
    through ``end`` (whole days, inclusive; a date, a datetime standing for its day, or an
    ISO string, in the years 1870-2100; at most 10,000 periods); weeks start on Monday. One
    row per period overlapping the range and per tag, zero-filled, sorted by period, then tag;
    the first and last periods count only the days inside the range.

    - ``period`` (datetime64[us]): the period's first moment (midnight; a Monday; the 1st).
    - ``tag``: the normalised tag.
    - ``count``: pulses in the period mentioning the tag (once per pulse), 0 when none.
    """
    wanted_tags = _check_tags(tags)
    first_day, last_day = check_day(start, "start"), check_day(end, "end")
    check_date_range(first_day, last_day, ("start", "end"))
    check_choice(freq, FREQUENCIES, "freq")
    check_periods(freq, first_day, last_day)

    since = datetime.combine(first_day, time())
    until = datetime.combine(last_day + timedelta(days=1), time())
    # Normalised by the database, with the expression the counts use. Passed on as a list,
    # not as a CTE: a CTE would keep the main query from running in parallel.
    raw = func.unnest(literal(wanted_tags, ARRAY(Text))).table_valued("raw").render_derived("r")
    normal = sorted(conn.execute(select(_normalised(raw.c.raw)).distinct()).scalars())
    wanted = func.unnest(literal(normal, ARRAY(Text))).table_valued("tag").render_derived("w")
    _now, covered_until = _clock(conn, None)
    # Periods start at midnight, on whole hours: no rollup hour spans two of them.
    tagged = _tag_counts([since, until], covered_until, only=normal)
    period = func.date_trunc(freq, tagged.c.at)
    counts = (
        select(period.label("period"), tagged.c.tag, func.sum(tagged.c.n).label("n"))
        .group_by(period, tagged.c.tag)
        .cte("counts")
    )
    periods = period_starts(freq, first_day, last_day)
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


def _tag_growth(
    conn: Connection, window_days: int, baseline_days: int, as_of: datetime | None
) -> CTE:
    """Per tag used in the window or the baseline before it: rows ``tag``, ``window_count``,
    ``baseline_count`` (pulses mentioning it in each)."""
    until, covered_until = _clock(conn, as_of)
    split = until - timedelta(days=window_days)
    since = split - timedelta(days=baseline_days)
    counts = _tag_counts([since + _TICK, split + _TICK, until + _TICK], covered_until)
    in_window = counts.c.at >= literal(split + _TICK)

    def total(condition: ColumnElement[bool]) -> ColumnElement[int]:
        return cast(func.coalesce(func.sum(counts.c.n).filter(condition), 0), BigInteger)

    return (
        select(
            counts.c.tag,
            total(in_window).label("window_count"),
            total(~in_window).label("baseline_count"),
        )
        .group_by(counts.c.tag)
        .cte("per_tag")
    )


def _check_growth_args(
    window_days: int, baseline_days: int, min_count: int, as_of: Moment | None, limit: int
) -> datetime | None:
    _check_days(window_days, "window_days")
    _check_days(baseline_days, "baseline_days")
    check_limit(min_count, "min_count")
    check_limit(limit)
    return _check_as_of(as_of)


RISING_COLUMNS: dict[str, str] = {
    "tag": "str",
    "window_count": "int64",
    "baseline_count": "int64",
    "window_rate": "float64",
    "baseline_rate": "float64",
    "growth": "float64",
}


def rising_tags(
    conn: Connection,
    *,
    window_days: int = 7,
    baseline_days: int = 28,
    min_count: int = 5,
    as_of: Moment | None = None,
    limit: int = 50,
) -> pd.DataFrame:
    """Established tags used more per day lately than in the period before: the risers.

    The window is ``as_of - window_days < created_at <= as_of`` (``as_of``: datetime, date or
    ISO string, default the transaction's ``localtimestamp``), the baseline the
    ``baseline_days`` just before it; tags are counted as in :func:`hashtag_counts`. A tag is
    rising when the baseline has at least one pulse of it (it is established), the window at
    least ``min_count``, and its rate per day is higher in the window than in the baseline.
    Tags the baseline lacks have no growth to rank by; :func:`new_tags` lists them, so they
    never crowd the risers out of the ``limit``.

    At most ``limit`` rows, by ``growth`` (descending), window count (descending), tag.
    Growth compares rates per day, so periods of different lengths compare fairly, and
    ``min_count`` keeps a tag going from 1 pulse to 2 from counting as a riser. Columns:

    - ``tag``: the normalised tag.
    - ``window_count``, ``baseline_count``: pulses mentioning it in each period.
    - ``window_rate``, ``baseline_rate``: those counts per day of their period.
    - ``growth``: ``window_rate / baseline_rate``, above 1.
    """
    moment = _check_growth_args(window_days, baseline_days, min_count, as_of, limit)
    per_tag = _tag_growth(conn, window_days, baseline_days, moment)
    window_rate = cast(per_tag.c.window_count, Float) / window_days
    baseline_rate = cast(per_tag.c.baseline_count, Float) / baseline_days
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
        )
        .where(
            per_tag.c.baseline_count > 0,
            per_tag.c.window_count >= min_count,
            scaled_window > scaled_baseline,
        )
        .order_by(growth.desc(), per_tag.c.window_count.desc(), per_tag.c.tag)
        .limit(limit)
    )
    return frame(conn, stmt, RISING_COLUMNS)


NEW_COLUMNS: dict[str, str] = {"tag": "str", "window_count": "int64", "window_rate": "float64"}


def new_tags(
    conn: Connection,
    *,
    window_days: int = 7,
    baseline_days: int = 28,
    min_count: int = 5,
    as_of: Moment | None = None,
    limit: int = 50,
) -> pd.DataFrame:
    """Tags of the window that no pulse of the baseline before it mentions: the newcomers.

    The same periods and counting as :func:`rising_tags`, whose complement this is: a tag
    with at least ``min_count`` pulses in the window and none in the ``baseline_days``
    before it (it may have been used earlier still). At most ``limit`` rows, by window count
    (descending), then tag. Columns:

    - ``tag``: the normalised tag.
    - ``window_count``: pulses mentioning it in the window.
    - ``window_rate``: that count per day of the window.
    """
    moment = _check_growth_args(window_days, baseline_days, min_count, as_of, limit)
    per_tag = _tag_growth(conn, window_days, baseline_days, moment)
    stmt = (
        select(
            per_tag.c.tag,
            per_tag.c.window_count,
            (cast(per_tag.c.window_count, Float) / window_days).label("window_rate"),
        )
        .where(per_tag.c.baseline_count == 0, per_tag.c.window_count >= min_count)
        .order_by(per_tag.c.window_count.desc(), per_tag.c.tag)
        .limit(limit)
    )
    return frame(conn, stmt, NEW_COLUMNS)


__all__ = [
    "FREQUENCIES",
    "hashtag_counts",
    "hashtag_timeseries",
    "new_tags",
    "pulse_span",
    "rising_tags",
    "trending_refreshes",
    "trending_topics",
    "window_totals",
]


def __dir__() -> list[str]:
    # What tab completion offers: the queries, not the names they are built from.
    return list(__all__)
