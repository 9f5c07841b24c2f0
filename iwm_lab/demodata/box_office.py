"""Rows of ``box_office_grosses``: each movie with a known revenue, weekend by weekend, in
its home region and, the more popular it is, in more regions.

A run opens on the Friday on or after the film's release (later in some regions) and
decays week by week, good films more slowly; the weeks' grosses of all its regions add up
to the film's ``movies.revenue`` within a few percent once the run is over (all money in
USD, the column's currency). A week still running when the data ends has its weekend
gross and no week gross yet. Ranks are each weekend's race per region, 1..n by weekend
gross.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from iwm_lab.demodata import vocab
from iwm_lab.demodata.copytext import CopyRows, Take, pool
from iwm_lab.demodata.facts import added, cached, day_start, movie_facts, sliced
from iwm_lab.demodata.world import DAY, I64, SECOND, World, rng_for

DISTRIBUTORS = (
    "Meridian Pictures",
    "Northlight Releasing",
    "Harbor Films",
    "Silverscreen Distribution",
    "Bluebird Entertainment",
    "Crescent Studios",
    "Monsoon Films",
    "Atlas Cinema",
)
CURRENCY = "USD"
_HOME = np.array([vocab.REGIONS.index(lang[3]) for lang in vocab.LANGUAGES])


@dataclass
class Grosses:
    movie: I64  # id
    region: I64  # index into REGIONS
    weekend: np.ndarray  # datetime64[D], a Friday
    week: I64  # week of run
    rank: I64
    weekend_gross: I64
    week_gross: I64  # -1 while the week runs
    theaters: I64
    distributor: I64


def grosses(world: World) -> Grosses:
    """Every weekend of every run (built once)."""
    return cached(world, "box-office", lambda: _build(world))


def _build(world: World) -> Grosses:
    rng = rng_for(world.seed, "box-office-plan")
    facts = movie_facts(world)
    today = world.as_of.astype("datetime64[D]")
    release = world.movie_release.astype("datetime64[D]")
    # 1970-01-01 was a Thursday: weekday 0 = Monday, so Friday is 4.
    weekday = (release.astype(np.int64) + 3) % 7
    opening = release + ((4 - weekday) % 7) * DAY
    movies = np.flatnonzero(~np.isnan(facts.revenue) & ~np.isnat(release) & (opening <= today))
    m = len(movies)
    rel = world.movie_popularity[movies] * world.scale.movies
    regions = np.clip(1 + rng.poisson(np.minimum(rel, 16) ** 0.6), 1, len(vocab.REGIONS))
    # Regions in a random order, the home region first.
    keys = rng.random((m, len(vocab.REGIONS)))
    keys[np.arange(m), _HOME[world.movie_lang[movies]]] = -1.0
    order = np.argsort(keys, axis=1)
    take = np.arange(len(vocab.REGIONS)) < regions[:, None]
    entry_movie = np.repeat(np.arange(m), regions)
    entry_region = order[take]
    home = np.r_[True, entry_movie[1:] != entry_movie[:-1]]
    delay = np.where(home, 0, rng.choice([0, 0, 1, 2, 4, 6], len(entry_movie)))
    # A region the film has not opened in yet has no rows, and no share of the revenue.
    opened = opening[movies][entry_movie] + delay * 7 * DAY <= today
    share = rng.gamma(2.0, 1.0, len(entry_movie)) * np.where(home, 3.0, 1.0) * opened
    share /= np.bincount(entry_movie, share, m)[entry_movie]
    # Good films keep their audience longer.
    quality = world.movie_quality[movies][entry_movie]
    decay = np.clip(0.52 + 0.08 * quality + rng.normal(0, 0.05, len(entry_movie)), 0.3, 0.8)
    length = np.clip(
        1 + rng.poisson((1.0 + 1.5 * np.minimum(rel, 25) ** 0.5)[entry_movie] * (1 + home)),
        1,
        20,
    )
    # Rows: one per entry and week.
    row_entry = np.repeat(np.arange(len(entry_movie)), length)
    starts = np.r_[0, np.cumsum(length)[:-1]]
    week = np.arange(len(row_entry)) - np.repeat(starts, length) + 1
    d = decay[row_entry]
    total = length.astype(np.float64)
    norm = (1 - decay**total) / (1 - decay)
    revenue = facts.revenue[movies][entry_movie]
    week_money = revenue[row_entry] * share[row_entry] * d ** (week - 1) / norm[row_entry]
    week_money *= rng.uniform(0.97, 1.03, len(row_entry))
    weekend = opening[movies][entry_movie][row_entry] + (delay[row_entry] + week - 1) * 7 * DAY
    keep = weekend <= today
    row_entry, week, weekend, week_money, d = (
        a[keep] for a in (row_entry, week, weekend, week_money, d)
    )
    n = len(row_entry)
    weekend_share = np.where(week == 1, rng.uniform(0.62, 0.75, n), rng.uniform(0.5, 0.66, n))
    week_gross = np.floor(week_money).astype(np.int64)
    weekend_gross = np.floor(week_money * weekend_share).astype(np.int64)
    running = weekend + 7 * DAY > today
    week_gross[running] = -1
    opening_theaters = np.clip(revenue * share / 60_000, 1, 4_400)[row_entry]
    theaters = np.maximum(opening_theaters * d ** (0.7 * (week - 1)), 1).astype(np.int64)
    movie = movies[entry_movie[row_entry]] + 1
    region = entry_region[row_entry]
    # Ranks: each region's weekend race.
    race = np.lexsort((movie, -weekend_gross, weekend.astype(np.int64), region))
    group = region[race] * 1_000_000 + weekend[race].astype(np.int64)
    first = np.r_[True, group[1:] != group[:-1]]
    starts_at = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    rank = np.empty(n, dtype=np.int64)
    rank[race] = np.arange(n) - starts_at + 1
    by_movie = np.lexsort((weekend.astype(np.int64), region, movie))
    distributor = rng.integers(0, len(DISTRIBUTORS), world.scale.movies)[movie - 1]
    return Grosses(
        movie=movie[by_movie],
        region=region[by_movie],
        weekend=weekend[by_movie],
        week=week[by_movie],
        rank=rank[by_movie],
        weekend_gross=weekend_gross[by_movie],
        week_gross=week_gross[by_movie],
        theaters=theaters[by_movie],
        distributor=distributor[by_movie],
    )


def box_office_grosses(world: World) -> Iterator[CopyRows]:
    g = grosses(world)
    total = len(g.movie)
    rng = rng_for(world.seed, "box-office-grosses")
    # Reported on the Monday after the weekend; the week's figure the Friday after.
    weekend = day_start(g.weekend)
    created = added(world, weekend + (3 * 86_400 + 15 * 3600) * SECOND, rng)
    updated = np.maximum(added(world, weekend + (7 * 86_400 + 15 * 3600) * SECOND, rng), created)
    regions, distributors = pool(vocab.REGIONS), pool(DISTRIBUTORS)
    for part in sliced(total):
        k = part.stop - part.start
        ids = np.arange(part.start + 1, part.stop + 1)
        running = g.week_gross[part] < 0
        rows = CopyRows(k)
        rows.ints("id", ids)
        rows.code("external_id", "bo", ids, 9)
        rows.ints("movie_id", g.movie[part])
        rows.text("region", Take(regions, g.region[part]))
        rows.timestamps("weekend_start", weekend[part])
        rows.ints("week_of_run", g.week[part])
        rows.ints("rank", g.rank[part])
        rows.ints("weekend_gross", g.weekend_gross[part])
        rows.ints("week_gross", np.maximum(g.week_gross[part], 0), null=running)
        rows.ints("theaters", g.theaters[part])
        rows.text("currency", CURRENCY.encode())
        rows.text("distributor", Take(distributors, g.distributor[part]))
        rows.timestamps("created_at", created[part])
        rows.timestamps("updated_at", updated[part], null=running)
        yield rows
