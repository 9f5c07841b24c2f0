"""The tables the seeder fills, in load order, the stream of rendered chunks, and running
that stream ahead of the loader.

Every table's rows come from a generator in :mod:`~iwm_lab.demodata.catalog`,
:mod:`~iwm_lab.demodata.streaming`, :mod:`~iwm_lab.demodata.activity`,
:mod:`~iwm_lab.demodata.social` or, for the platform areas, :mod:`~iwm_lab.demodata.awards`,
:mod:`~iwm_lab.demodata.box_office`, :mod:`~iwm_lab.demodata.discovery`,
:mod:`~iwm_lab.demodata.quizzes`, :mod:`~iwm_lab.demodata.talent`,
:mod:`~iwm_lab.demodata.moderation` and :mod:`~iwm_lab.demodata.audit` (which build each
area's plan once per run and replay what they share with the base tables through
:mod:`~iwm_lab.demodata.facts`); each chunk uses its own random stream (seed, table, chunk
number), so the rows depend on scale and seed only, never on timing, threads or processes.

:func:`in_process` renders the stream in a forked process, into a ring of shared buffers:
the loader's process then does nothing but feed COPY, and never waits for the GIL while
the generator's Python runs (with a thread, the thread feeding the socket had to win the
GIL back each time the socket drained). :func:`in_thread` is the fallback where forking is
not safe (:func:`can_fork`).
"""

from __future__ import annotations

import gc
import mmap
import multiprocessing
import queue
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from itertools import islice
from typing import Any

from iwm_lab.demodata import (
    activity,
    audit,
    awards,
    box_office,
    catalog,
    discovery,
    moderation,
    quizzes,
    social,
    streaming,
    talent,
    tallies,
    vocab,
)
from iwm_lab.demodata.copytext import CopyRows, clear_cache
from iwm_lab.demodata.world import World

# Chunks rendered ahead of COPY: enough to ride out jitter, few enough to keep memory flat.
QUEUE_CHUNKS = 3
# The generator process's ring of shared buffers: a chunk (at most ~5 MB) fills one or two,
# and the generator may run up to ~60 MB ahead, into the next tables while COPY finishes a
# slow one (favorites is then rendered before its COPY begins).
SLOT_BYTES = 4 << 20
SLOTS = 16


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
    data: bytes | memoryview  # a view into the loader's shared buffer when it came from there
    rows: int
    seconds: float  # spent generating and rendering it


def _per_movie(factor: float) -> Callable[[World], int]:
    return lambda w: round(w.scale.movies * factor)


def _award_years(per_year: float) -> Callable[[World], int]:
    """Rows of ``per_year`` per award body and year of the scale's history."""
    return lambda w: round(len(awards.BODIES) * awards.YEARS_BACK.get(w.scale.name, 30) * per_year)


def _festival_years(per_year: float) -> Callable[[World], int]:
    return lambda w: round(
        len(awards.FESTIVALS) * awards.YEARS_BACK.get(w.scale.name, 30) * per_year
    )


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
    # The platform areas (designed here): expected rows are rough, for the progress bars.
    TableSource("award_bodies", lambda w: len(awards.BODIES), awards.award_bodies),
    TableSource("award_ceremonies", _award_years(0.8), awards.award_ceremonies),
    TableSource("award_categories", lambda w: 53, awards.award_categories),
    TableSource("festivals", lambda w: len(awards.FESTIVALS), awards.festivals),
    TableSource("festival_editions", _festival_years(0.75), awards.festival_editions),
    TableSource("festival_selections", _festival_years(30), awards.festival_selections),
    TableSource("award_nominations", _award_years(27), awards.award_nominations),
    TableSource("box_office_grosses", _per_movie(3.3), box_office.box_office_grosses),
    TableSource("user_roles", lambda w: 16 + w.scale.users // 1000, moderation.user_roles),
    TableSource("curated_lists", _per_movie(1 / 40), discovery.curated_lists),
    TableSource("curated_list_movies", _per_movie(15 / 40), discovery.curated_list_movies),
    TableSource("featured_rails", _per_movie(1 / 500), discovery.featured_rails),
    TableSource("featured_rail_movies", _per_movie(14 / 500), discovery.featured_rail_movies),
    TableSource("movie_similarities", _per_movie(2.2), discovery.movie_similarities),
    TableSource("quizzes", _per_movie(1 / 20), quizzes.quizzes),
    TableSource("quiz_questions", _per_movie(5 / 20), quizzes.quiz_questions),
    TableSource("quiz_attempts", lambda w: max(400, w.scale.users // 4), quizzes.quiz_attempts),
    TableSource(
        "talent_profiles",
        lambda w: w.scale.people // 10 + w.scale.users // 50,
        talent.talent_profiles,
    ),
    TableSource(
        "casting_calls", lambda w: w.scale.people // 40 + w.scale.users // 200, talent.casting_calls
    ),
    TableSource(
        "casting_applications",
        lambda w: w.scale.people // 10 + w.scale.users // 50,
        talent.casting_applications,
    ),
    TableSource(
        "content_reports", lambda w: max(120, w.scale.users // 10), moderation.content_reports
    ),
    TableSource(
        "moderation_actions",
        lambda w: max(120, w.scale.users // 10),
        moderation.moderation_actions,
    ),
    TableSource("user_bans", lambda w: w.scale.users // 400, moderation.user_bans),
    TableSource("audit_log", lambda w: w.scale.users // 6, audit.audit_log),
)
# Rollups counted while reviews and pulses were generated (:mod:`.tallies`): after SOURCES in
# the same stream, on a world the seeder attached a basis to.
ROLLUP_SOURCES: tuple[TableSource, ...] = (
    TableSource("review_daily_stats", lambda w: 12 * 365, tallies.review_daily_stats),
    TableSource(
        "movie_score_counts",
        lambda w: min(w.scale.reviews, w.scale.movies * 12),
        tallies.movie_score_counts,
    ),
    TableSource("pulse_hours", lambda w: min(w.scale.pulses, 730 * 24), tallies.pulse_hours),
    TableSource("pulse_tag_hours", lambda w: round(w.scale.pulses * 0.41), tallies.pulse_tag_hours),
)


class ChunkStream:
    """Every chunk of ``sources``, rendered, in load order (at most ``limit`` chunks): an
    iterator that a loader may also run in a forked process, since nothing of it has run
    until the first chunk is asked for."""

    def __init__(
        self, world: World, sources: tuple[TableSource, ...] = SOURCES, limit: int | None = None
    ) -> None:
        self.world, self.sources, self.limit = world, sources, limit
        self._chunks = islice(_render(world, sources), limit)

    def __iter__(self) -> ChunkStream:
        return self

    def __next__(self) -> Chunk:
        return next(self._chunks)


def chunks(
    world: World, sources: tuple[TableSource, ...] = SOURCES, limit: int | None = None
) -> ChunkStream:
    """Every table's chunks, rendered, in load order (the first ``limit`` only, if given)."""
    return ChunkStream(world, sources, limit)


def _render(world: World, sources: tuple[TableSource, ...]) -> Iterator[Chunk]:
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


def _produce(chunks: Iterator[Chunk], out: queue.Queue[Any], stop: threading.Event) -> None:
    try:
        for chunk in chunks:
            while not stop.is_set():
                try:
                    out.put(chunk, timeout=0.2)
                    break
                except queue.Full:
                    continue
            if stop.is_set():
                return
        out.put(None)
    except BaseException as exc:  # handed to the COPY thread, which re-raises it
        out.put(exc)


@contextmanager
def in_thread(chunks: Iterator[Chunk]) -> Iterator[Callable[[], Chunk | None]]:
    """Run ``chunks`` in a thread; yield a function returning the next chunk (None at end)."""
    out: queue.Queue[Any] = queue.Queue(maxsize=QUEUE_CHUNKS)
    stop = threading.Event()
    thread = threading.Thread(
        target=_produce, args=(chunks, out, stop), name="iwm-seed-generate", daemon=True
    )
    thread.start()

    def take() -> Chunk | None:
        item = out.get()
        if isinstance(item, BaseException):
            raise item
        chunk: Chunk | None = item
        return chunk

    try:
        yield take
    finally:
        stop.set()
        thread.join()


def _fill_slots(stream: ChunkStream, ring: mmap.mmap, filled: Any, free: Any) -> None:
    """In the generator process: render every chunk into free slots of ``ring`` and say so
    on ``filled``, in order; None at the end, or the exception that stopped it."""
    # Objects inherited from the loader (its connection among them) are never collected
    # here, whatever garbage they hold; and the loader's signal handlers are not this
    # process's: terminate() and Ctrl-C end it.
    gc.freeze()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    unused = list(range(SLOTS))
    try:
        for chunk in stream:
            data = memoryview(chunk.data)
            for start in range(0, max(len(data), 1), SLOT_BYTES):
                piece = data[start : start + SLOT_BYTES]
                slot = unused.pop() if unused else free.recv()
                at = slot * SLOT_BYTES
                ring[at : at + len(piece)] = piece
                # A chunk wider than a slot: its rows and time are counted on its last piece.
                last = start + SLOT_BYTES >= len(data)
                rows, seconds = (chunk.rows, chunk.seconds) if last else (0, 0.0)
                filled.send((chunk.table, chunk.columns, slot, len(piece), rows, seconds))
        filled.send(None)
    except BaseException as exc:  # handed to the loader, which re-raises it
        try:
            filled.send(exc)
        except Exception:
            filled.send(RuntimeError(f"the generator process failed: {exc!r}"))


@contextmanager
def in_process(stream: ChunkStream) -> Iterator[Callable[[], Chunk | None]]:
    """Run ``stream`` in a forked process; yield a function returning the next chunk (None at
    end). A chunk's data is a view into shared memory, valid until the next call."""
    context = multiprocessing.get_context("fork")
    ring = mmap.mmap(-1, SLOTS * SLOT_BYTES)
    filled_out, filled_in = context.Pipe(duplex=False)
    free_out, free_in = context.Pipe(duplex=False)
    child = context.Process(
        target=_fill_slots,
        args=(stream, ring, filled_in, free_out),
        name="iwm-seed-generate",
        daemon=True,
    )
    with warnings.catch_warnings():
        if threading.active_count() == 1:
            # Python counts every thread of the process; the only others here are native
            # ones, such as Arrow's allocator's background thread, which its allocator
            # makes safe across fork.
            warnings.filterwarnings(
                "ignore", "This process .* is multi-threaded", DeprecationWarning
            )
        child.start()
    # Only the child writes chunks and reads free slots: its exit then ends the pipes.
    filled_in.close()
    free_out.close()
    held: int | None = None

    def take() -> Chunk | None:
        nonlocal held
        if held is not None:
            # A child that has rendered everything has exited and needs no slot back.
            with suppress(BrokenPipeError):
                free_in.send(held)
            held = None
        try:
            message = filled_out.recv()
        except EOFError:
            child.join(5)
            raise RuntimeError(
                f"the generator process ended unexpectedly (exit code {child.exitcode})"
            ) from None
        if message is None:
            return None
        if isinstance(message, BaseException):
            raise message
        table, columns, slot, size, rows, seconds = message
        held = slot
        view = memoryview(ring)[slot * SLOT_BYTES : slot * SLOT_BYTES + size]
        return Chunk(table, columns, view, rows, seconds)

    try:
        yield take
    finally:
        if child.is_alive():
            child.terminate()
        child.join()
        filled_out.close()
        free_in.close()
        # Views of the last chunks may still be referenced; then the map goes with them.
        with suppress(BufferError):
            ring.close()


def can_fork() -> bool:
    """Whether the generator may run in a forked process: the platform forks, and this
    process runs one Python thread only (forking beside other threads can deadlock the child
    on a lock one of them held; a notebook's kernel, for one, runs several)."""
    return "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1
