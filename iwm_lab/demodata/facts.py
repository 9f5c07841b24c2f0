"""What the platform areas' tables must agree with in the base tables, and helpers they share.

The base tables draw some values as they render them (a movie's revenue, its trivia, who is
credited on it, when a review was written). Rather than store those in the :class:`World`
for every table, the platform areas replay the same random streams through the very
functions the base tables use (:func:`catalog.movie_chunks`, :func:`catalog.credit_chunks`,
:func:`activity.review_heads`, :func:`social.pulse_times`), once per run, in the generator's
process, and keep the results in ``World.cache``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from iwm_lab.demodata import catalog
from iwm_lab.demodata.activity import review_heads
from iwm_lab.demodata.catalog import FULL_NAMES, ROW_CHUNK, MovieFacts
from iwm_lab.demodata.copytext import pool
from iwm_lab.demodata.social import pulse_times
from iwm_lab.demodata.world import F64, I64, RELEASED, SECOND, Dates, World, rng_for

Mask = npt.NDArray[np.bool_]

# Scores with three decimals, "0.000" to "1.000", picked by thousandths.
SCORES = pool([f"{i / 1000:.3f}" for i in range(1001)])


def cached[T](world: World, key: str, build: Callable[[], T]) -> T:
    """``build()``, once per world (the same world serves every table of a run)."""
    if key not in world.cache:
        world.cache[key] = build()
    value: T = world.cache[key]
    return value


def movie_facts(world: World) -> MovieFacts:
    """Every movie's money, scores and trivia as ``movies`` holds them (index = id - 1)."""

    def build() -> MovieFacts:
        parts = [facts for _, facts in catalog.movie_chunks(world, _trivia(world))]
        return MovieFacts(
            *(np.concatenate([getattr(p, f) for p in parts]) for f in MovieFacts.__annotations__)
        )

    return cached(world, "movie-facts", build)


def trivia_items(world: World) -> list[list[tuple[int, int]]]:
    """Per trivia rest (``MovieFacts.trivia``): the (TRIVIA row, answer) of its objects after
    the budget one, as ``movies.trivia`` lists them."""
    return _trivia(world).items


def _trivia(world: World) -> catalog._Trivia:
    return cached(world, "trivia", lambda: catalog.trivia_pool(world))


@dataclass(frozen=True)
class Credits:
    """Every credit of ``movie_people``, ordered by role, then movie: ``starts`` (role,
    movie) -> the first of its credits, for :meth:`pick`."""

    movie: I64  # ids
    person: I64  # ids
    role: I64  # index into CREDIT_ROLES
    movies: int
    sorted_keys: I64  # key(role, movie) of each credit, ascending

    def key(self, role: I64 | int, movie: I64) -> I64:
        out: I64 = np.asarray(role, dtype=np.int64) * (self.movies + 1) + movie
        return out

    def count(self, role: I64 | int, movie: I64) -> I64:
        """How many credits of ``role`` each movie (id) has."""
        keys, sorted_keys = self.key(role, movie), self.sorted_keys
        counts: I64 = np.searchsorted(sorted_keys, keys, "right") - np.searchsorted(
            sorted_keys, keys, "left"
        )
        return counts

    def pick(self, role: I64 | int, movie: I64, u: F64) -> I64:
        """For each movie (id), the person (id) of its ``u``-th credit of ``role`` (``u`` in
        [0, 1)); the movie must have one."""
        keys, sorted_keys = self.key(role, movie), self.sorted_keys
        lo = np.searchsorted(sorted_keys, keys, "left")
        hi = np.searchsorted(sorted_keys, keys, "right")
        at = lo + (u * (hi - lo)).astype(np.int64)
        picked: I64 = self.person[np.minimum(at, len(self.person) - 1)]
        return picked


def credits(world: World) -> Credits:
    """Every credit, as ``movie_people`` holds it."""

    def build() -> Credits:
        parts = [(m, p, r) for _, m, p, r in catalog.credit_chunks(world)]
        movie = np.concatenate([p[0] for p in parts])
        person = np.concatenate([p[1] for p in parts])
        role = np.concatenate([p[2] for p in parts])
        order = np.lexsort((np.arange(len(movie)), movie, role))
        movie, person, role = movie[order], person[order], role[order]
        keys = role * (world.scale.movies + 1) + movie
        return Credits(movie, person, role, world.scale.movies, keys)

    return cached(world, "credits", build)


def _first_names(world: World, stream: str, rows: int) -> I64:
    """Each row's name as an index into FULL_NAMES: the first draw of each chunk of the
    table generated from random stream ``stream``."""

    def build() -> I64:
        parts = [
            rng_for(world.seed, stream, number).integers(0, len(FULL_NAMES), len(idx))
            for number, idx in catalog.chunks(rows, ROW_CHUNK)
        ]
        return np.concatenate(parts)

    return cached(world, f"names:{stream}", build)


def person_names(world: World) -> I64:
    """Each person's name as an index into FULL_NAMES."""
    return _first_names(world, "people-table", world.scale.people)


def user_names(world: World) -> I64:
    """Each user's name as an index into FULL_NAMES."""
    return _first_names(world, "users-table", world.scale.users)


def _replayed(ids: I64, total: int, times: Callable[[int, int], Dates]) -> Dates:
    out = np.empty(len(ids), dtype="datetime64[s]")
    number = (ids - 1) // ROW_CHUNK
    for chunk in np.unique(number):
        n = min(ROW_CHUNK, total - int(chunk) * ROW_CHUNK)
        here = number == chunk
        out[here] = times(int(chunk), n)[(ids[here] - 1) % ROW_CHUNK]
    return out


def review_dates(world: World, ids: I64) -> Dates:
    """When each review (id) was written."""
    return _replayed(
        ids,
        world.scale.reviews,
        lambda number, n: review_heads(world, rng_for(world.seed, "reviews", number), n)[2],
    )


def pulse_dates(world: World, ids: I64) -> Dates:
    """When each pulse (id) was posted."""
    return _replayed(
        ids,
        world.scale.pulses,
        lambda number, n: pulse_times(world, rng_for(world.seed, "pulses", number), n)[1],
    )


def released(world: World) -> Mask:
    """Movies released on or before ``as_of``, by index."""
    day = world.as_of.astype("datetime64[D]")
    out: Mask = (world.movie_status == RELEASED) & ~np.isnat(world.movie_release)
    out &= world.movie_release <= day
    return out


def sliced(total: int, size: int = ROW_CHUNK) -> Iterator[slice]:
    """Slices covering ``range(total)``, ``size`` at a time (one, empty, when total is 0)."""
    if total == 0:
        yield slice(0, 0)
    for start in range(0, total, size):
        yield slice(start, min(start + size, total))


def spread(lo: np.ndarray, hi: np.ndarray, u: F64) -> Dates:
    """Moments (to the second) at fraction ``u`` from ``lo`` to ``hi`` (``lo`` where
    ``hi`` < ``lo``)."""
    lo_s, hi_s = lo.astype("datetime64[s]"), hi.astype("datetime64[s]")
    span = np.maximum((hi_s - lo_s).astype(np.int64), 0)
    out: Dates = lo_s + (span * u).astype(np.int64) * SECOND
    return out


def day_start(days: np.ndarray) -> Dates:
    """Midnight of each day, as ``datetime64[s]``."""
    out: Dates = days.astype("datetime64[D]").astype("datetime64[s]")
    return out


def added(world: World, event: Dates, rng: np.random.Generator) -> Dates:
    """When a catalogue fact dated ``event`` was added to the platform: soon after it, and
    not before the launch, nor after ``as_of``."""
    n = len(event)
    base = np.maximum(event.astype("datetime64[s]"), world.launch)
    later: Dates = base + (rng.exponential(3 * 86_400, n)).astype(np.int64) * SECOND
    out: Dates = np.minimum(later, world.as_of)
    return out
