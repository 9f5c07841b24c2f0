"""Rollup rows counted while the reviews and pulses are generated, loaded with them.

Four of migration 0006's rollup tables are plain counts and sums of rows the generator makes
once: ``review_daily_stats`` (reviews and rating sum per day), ``movie_score_counts`` (reviews
per movie and rating: ``score_counts``' histogram), ``pulse_hours`` (pulses and tagged pulses
per hour) and ``pulse_tag_hours`` (pulses per hour, tag and category). Rebuilding them in SQL
reads every review and pulse again: about 25 s of the seed at scale ``large``, on one core,
after the load. Counted here, per chunk with ``bincount`` in the generator's process while
COPY runs, their rows follow the last table in the same COPY stream; the seeder then builds
``score_counts`` from the histogram and records each as refreshed (``iwm_rollup_loaded``,
migration 0009).

They are exact, not estimates: counts are integers, ratings are halves, so a day's rating sum
is exact in ``float8``; the hashtags are normalised by the database itself
(``iwm_pulse_tags`` over each distinct spelling, :func:`read_basis`), so its collation's case
rules apply; and only the hours before the refresh's ``covered_until`` are counted, as a
refresh does. The tests compare every row with a rebuild in SQL.

The counting runs only when the seeder attached a :class:`RollupBasis` to the world
(:func:`attach`); other users of the generator (the benchmarks' raw COPY) pay nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg

from iwm_lab.demodata.copytext import CopyRows, ObjArray, Take, pool
from iwm_lab.demodata.world import World

# The tables loaded from these counts, and the rollups then recorded as refreshed (the
# histogram is score_counts' state; score_counts itself is built from it in SQL).
LOADED_TABLES: tuple[str, ...] = (
    "review_daily_stats",
    "movie_score_counts",
    "pulse_hours",
    "pulse_tag_hours",
)
LOADED_ROLLUPS: tuple[str, ...] = (
    "review_daily_stats",
    "score_counts",
    "pulse_hours",
    "pulse_tag_hours",
)
# Review ratings are halves from 0 to 10.
HALVES = 21
# pulse_tag_hours.category by the generator's link codes (social.MOVIE, CRICKET, UNLINKED):
# linked_type, or 'general' where it is NULL.
CATEGORIES = ("movie", "cricket", "general")
_CATEGORY_POOL = pool(list(CATEGORIES))
OUTPUT_CHUNK = 200_000
_BASIS, _REVIEWS, _PULSES = "rollup_basis", "review_tally", "pulse_tally"

I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class RollupBasis:
    """What the counts need from the database: ``until``, the start of the hour a refresh
    would cover up to (pulses from then on are not counted), and each hashtag spelling's
    normalised tag (spellings that normalise to nothing are absent)."""

    until: np.datetime64
    tags: dict[str, str]


def read_basis(conn: psycopg.Connection[Any], spellings: Sequence[str]) -> RollupBasis:
    """The basis as the database sees it, in the seeder's transaction: ``covered_until`` as
    ``iwm_rollup_refresh`` computes it (its ``localtimestamp`` is the transaction's, so a
    refresh in the same transaction agrees), and ``iwm_pulse_tags`` of each spelling."""
    row = conn.execute("select date_trunc('hour', localtimestamp)").fetchone()
    assert row is not None
    documents = [json.dumps([s], ensure_ascii=False) for s in spellings]
    found = conn.execute(
        "select u.i, t.tag from unnest(%s::text[]) with ordinality as u(doc, i) "
        "cross join lateral public.iwm_pulse_tags(u.doc) as t(tag)",
        [documents],
    ).fetchall()
    return RollupBasis(np.datetime64(row[0], "s"), {spellings[i - 1]: tag for i, tag in found})


def attach(world: World, basis: RollupBasis) -> None:
    """Make the review and pulse generators count for the rollups, on ``basis``."""
    world.cache[_BASIS] = basis


class ReviewTally:
    """Reviews and halves of rating per day since the platform's launch, and reviews per
    movie and rating."""

    def __init__(self, world: World) -> None:
        self.first_day = world.launch.astype("datetime64[D]")
        days = int((world.as_of.astype("datetime64[D]") - self.first_day).astype(np.int64)) + 1
        self.reviews = np.zeros(days, np.int64)
        self.halves = np.zeros(days, np.int64)
        self.movies = len(world.movie_status)
        self.keys: list[npt.NDArray[np.int32]] = []
        self.rows = 0

    def add(self, movie: I64, halves: I64, date: npt.NDArray[np.datetime64]) -> None:
        day = (date.astype("datetime64[D]") - self.first_day).astype(np.int64)
        size = len(self.reviews)
        self.reviews += np.bincount(day, minlength=size)
        # Float weights, integer values: exact far beyond any day's sum.
        self.halves += np.bincount(day, weights=halves, minlength=size).astype(np.int64)
        # Counted once at the end: a bincount per chunk would add up millions of zeros.
        self.keys.append((movie * HALVES + halves).astype(np.int32))
        self.rows += len(movie)

    def scores(self) -> I64:
        """Reviews per key movie index * HALVES + rating in halves."""
        return np.bincount(np.concatenate(self.keys), minlength=self.movies * HALVES)


class PulseTally:
    """Pulses (and tagged pulses) per hour, and pulses per hour, tag and category, of the
    pulses created before ``until``."""

    def __init__(self, world: World, basis: RollupBasis, tails: Sequence[Sequence[str]]) -> None:
        names = sorted(set(basis.tags.values()))
        if any(c in name for name in names for c in "\t\n\\"):
            raise ValueError("a normalised hashtag holds a tab, newline or backslash")
        self.tags: ObjArray = pool(names)
        index = {name: i for i, name in enumerate(names)}

        def ids(spellings: Sequence[str]) -> list[int]:
            return sorted({index[basis.tags[s]] for s in spellings if s in basis.tags})

        self.movie_tag = np.array([(ids([t.decode()]) or [-1])[0] for t in world.movie_tag])
        per_tail = [ids(s) for s in tails]
        width = max(map(len, per_tail), default=0)
        self.tail_tags = np.full((len(per_tail), max(width, 1)), -1, np.int64)
        for i, found in enumerate(per_tail):
            self.tail_tags[i, : len(found)] = found
        self.until = basis.until
        self.hours: list[I64] = []
        self.tagged: list[npt.NDArray[np.bool_]] = []
        self.keys: list[I64] = []
        self.rows = 0

    def add(
        self,
        created: npt.NDArray[np.datetime64],
        link: I64,
        movie: I64,
        tail: I64,
        null: npt.NDArray[np.bool_],
    ) -> None:
        """A chunk: creation times, link codes, the movie whose tag leads the list (-1:
        none), the tail's index and whether hashtags is NULL."""
        self.rows += len(created)
        keep = created < self.until
        hour = created.astype("datetime64[h]").astype(np.int64)
        tails = self.tail_tags[tail]
        head = np.where(movie >= 0, self.movie_tag[np.maximum(movie, 0)], -1)
        # A tag counts once per pulse, however often it is spelled.
        head = np.where((tails == head[:, None]).any(axis=1), -1, head)
        ids = np.column_stack([head, tails])
        ids[null] = -1
        self.hours.append(hour[keep])
        self.tagged.append((ids[keep] >= 0).any(axis=1))
        rows, cols = np.nonzero((ids >= 0) & keep[:, None])
        key = (hour[rows] * len(self.tags) + ids[rows, cols]) * len(CATEGORIES) + link[rows]
        self.keys.append(key)


def review_counter(world: World) -> ReviewTally | None:
    """A fresh review tally for this run of the review generator, if the world counts."""
    if _BASIS not in world.cache:
        return None
    world.cache[_REVIEWS] = tally = ReviewTally(world)
    return tally


def pulse_counter(world: World, tails: Sequence[Sequence[str]]) -> PulseTally | None:
    """A fresh pulse tally for this run of the pulse generator (``tails``: the spellings in
    each hashtag list that may follow a movie's tag), if the world counts."""
    basis = world.cache.get(_BASIS)
    if basis is None:
        return None
    world.cache[_PULSES] = tally = PulseTally(world, basis, tails)
    return tally


def _finished(world: World, key: str, table: str, source: str, rows: int) -> Any:
    tally = world.cache.get(key)
    if tally is None or tally.rows != rows:
        raise RuntimeError(
            f"{table} is counted while {source} are generated: generate all {rows:,} "
            f"{source} first, in the same stream, with a basis attached"
        )
    return tally


def _reviews(world: World, table: str) -> ReviewTally:
    tally: ReviewTally = _finished(world, _REVIEWS, table, "reviews", world.scale.reviews)
    return tally


def _pulses(world: World, table: str) -> PulseTally:
    tally: PulseTally = _finished(world, _PULSES, table, "pulses", world.scale.pulses)
    return tally


def _chunked(n: int) -> Iterator[slice]:
    for start in range(0, n, OUTPUT_CHUNK):
        yield slice(start, min(start + OUTPUT_CHUNK, n))


def review_daily_stats(world: World) -> Iterator[CopyRows]:
    tally = _reviews(world, "review_daily_stats")
    days = np.flatnonzero(tally.reviews)
    for part in _chunked(len(days)):
        day = days[part]
        rows = CopyRows(len(day))
        rows.timestamps("day", tally.first_day + day)
        rows.ints("reviews", tally.reviews[day])
        rows.tenths("rating_sum", tally.halves[day] * 5)
        yield rows


def movie_score_counts(world: World) -> Iterator[CopyRows]:
    tally = _reviews(world, "movie_score_counts")
    scores = tally.scores()
    keys = np.flatnonzero(scores)
    for part in _chunked(len(keys)):
        key = keys[part]
        rows = CopyRows(len(key))
        rows.ints("movie_id", key // HALVES + 1)
        rows.tenths("score", key % HALVES * 5)
        rows.ints("n", scores[key])
        yield rows


def pulse_hours(world: World) -> Iterator[CopyRows]:
    tally = _pulses(world, "pulse_hours")
    hours, which = np.unique(np.concatenate(tally.hours), return_inverse=True)
    pulses = np.bincount(which, minlength=len(hours))
    tagged = np.bincount(which, weights=np.concatenate(tally.tagged), minlength=len(hours))
    for part in _chunked(len(hours)):
        rows = CopyRows(len(hours[part]))
        rows.timestamps("hour", hours[part].astype("datetime64[h]"))
        rows.ints("pulses", pulses[part])
        rows.ints("tagged_pulses", tagged[part].astype(np.int64))
        yield rows


def pulse_tag_hours(world: World) -> Iterator[CopyRows]:
    tally = _pulses(world, "pulse_tag_hours")
    keys, counts = np.unique(np.concatenate(tally.keys), return_counts=True)
    for part in _chunked(len(keys)):
        key = keys[part]
        category = key % len(CATEGORIES)
        tag = key // len(CATEGORIES) % len(tally.tags)
        hour = key // len(CATEGORIES) // len(tally.tags)
        rows = CopyRows(len(key))
        rows.timestamps("hour", hour.astype("datetime64[h]"))
        rows.text("tag", Take(tally.tags, tag))
        rows.text("category", Take(_CATEGORY_POOL, category))
        rows.ints("pulses", counts[part])
        yield rows
