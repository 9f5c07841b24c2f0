"""The tables the seeder fills, in load order, and the stream of rendered chunks.

Every table's rows come from a generator in :mod:`~iwm_lab.demodata.catalog`,
:mod:`~iwm_lab.demodata.streaming`, :mod:`~iwm_lab.demodata.activity` or
:mod:`~iwm_lab.demodata.social`; each chunk uses its own random stream (seed, table, chunk
number), so the rows depend on scale and seed only, never on timing or threads.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from iwm_lab.demodata import activity, catalog, social, streaming, vocab
from iwm_lab.demodata.copytext import CopyRows, clear_cache
from iwm_lab.demodata.world import World


@dataclass(frozen=True)
class TableSource:
    table: str
    expected_rows: Callable[[World], int]  # for progress bars; sampled tables vary a little
    rows: Callable[[World], Iterator[CopyRows]]


@dataclass(frozen=True)
class Chunk:
    """One rendered chunk: COPY text for ``columns`` of ``table``."""

    table: str
    columns: tuple[str, ...]
    data: bytes
    rows: int
    seconds: float  # spent generating and rendering it


def _per_movie(factor: float) -> Callable[[World], int]:
    return lambda w: round(w.scale.movies * factor)


SOURCES: tuple[TableSource, ...] = (
    TableSource("genres", lambda w: len(vocab.GENRES), catalog.genres),
    TableSource("movies", lambda w: w.scale.movies, catalog.movies),
    TableSource("people", lambda w: w.scale.people, catalog.people),
    TableSource("movie_genres", _per_movie(1.85), catalog.movie_genres),
    TableSource("movie_people", _per_movie(12.0), catalog.movie_people),
    TableSource("scenes", lambda w: w.scale.scenes, catalog.scenes),
    TableSource("users", lambda w: w.scale.users, activity.users),
    TableSource("reviews", lambda w: w.scale.reviews, activity.reviews),
    TableSource("collections", lambda w: w.scale.collections, activity.collections),
    TableSource(
        "collection_movies",
        lambda w: round(w.scale.collections * w.scale.movies_per_collection),
        activity.collection_movies,
    ),
    TableSource(
        "watchlist", lambda w: round(w.scale.users * w.scale.watchlist_per_user), activity.watchlist
    ),
    TableSource(
        "favorites", lambda w: round(w.scale.users * w.scale.favorites_per_user), activity.favorites
    ),
    TableSource("pulses", lambda w: w.scale.pulses, social.pulses),
    TableSource(
        "user_follows",
        lambda w: round(w.scale.users * w.scale.follows_per_user),
        social.user_follows,
    ),
    TableSource("streaming_platforms", lambda w: len(vocab.PLATFORMS), streaming.platforms),
    TableSource(
        "movie_streaming_options",
        lambda w: round(w.scale.movies * w.scale.options_per_movie),
        streaming.movie_streaming_options,
    ),
)


def chunks(world: World, sources: tuple[TableSource, ...] = SOURCES) -> Iterator[Chunk]:
    """Every table's chunks, rendered, in load order."""
    for source in sources:
        rows_of = source.rows(world)
        while True:
            started = time.perf_counter()
            rows = next(rows_of, None)
            if rows is None:
                clear_cache()
                break
            data = rows.render()
            yield Chunk(source.table, rows.columns, data, rows.n, time.perf_counter() - started)
