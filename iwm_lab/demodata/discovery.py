"""Rows of the discovery tables: editors' curated lists and the page rails that feature
movies, with their items, and "because you watched" similarity edges.

Lists are made by curators and editors (``user_roles``) and hold what their type says:
award winners, festival selections, one genre's best, recent releases or an editor's mix.
Similar movies share genres (the more, the higher the score) and were made in nearby
years; popular pairs are found by co-watching, the rest by content.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from iwm_lab.demodata import vocab
from iwm_lab.demodata.awards import plan as awards_plan
from iwm_lab.demodata.copytext import CopyRows, Take, int_text, pool
from iwm_lab.demodata.facts import SCORES, cached, released, sliced, spread
from iwm_lab.demodata.moderation import roles
from iwm_lab.demodata.world import DAY, I64, SECOND, Distribution, World, rng_for, sample

LIST_TYPES = ("editorial", "awards", "festival", "seasonal", "genre")
LIST_TITLES = {
    "editorial": "Editors' picks",
    "awards": "Award winners",
    "festival": "Festival favourites",
    "seasonal": "New this season",
    "genre": "Best of",
}
PLACEMENTS = ("home", "browse", "streaming", "awards", "search")
RAIL_SOURCES = ("editorial", "curated-list", "trending", "new-releases", "because-you-watched")
RAIL_TITLES = (
    "Picked for you",
    "From our lists",
    "Trending now",
    "New releases",
    "Because you watched",
)
METHODS = ("co-watch", "co-rating", "content", "editorial")
_SHORTLIST = 2_000


@dataclass
class Lists:
    list_type: I64
    genre: I64
    curator: I64  # user id
    created: np.ndarray
    published: np.ndarray  # bool
    published_at: np.ndarray
    item_list: I64
    item_movie: I64  # id
    item_position: I64
    rail_placement: I64
    rail_region: I64  # -1 = every region
    rail_position: I64
    rail_source: I64
    rail_list: I64  # list id, 0 = none
    rail_start: np.ndarray
    rail_end: np.ndarray  # NaT = open-ended
    rail_item_rail: I64
    rail_item_movie: I64
    rail_item_position: I64


def lists(world: World) -> Lists:
    """The lists and rails (built once)."""
    return cached(world, "discovery", lambda: _build(world))


def _picks(rng: np.random.Generator, candidates: I64, weights: np.ndarray, k: int) -> I64:
    """Up to ``k`` distinct candidates, likelier by weight, most likely first."""
    if len(candidates) == 0:
        return candidates
    keys = np.log(np.maximum(weights, 1e-12)) + rng.gumbel(size=len(candidates))
    top: I64 = candidates[np.argsort(-keys)[:k]]
    return top


def _build(world: World) -> Lists:
    rng = rng_for(world.seed, "discovery-plan")
    out = np.flatnonzero(released(world))
    quality = np.exp(world.movie_quality)
    popularity = world.movie_popularity
    awards = awards_plan(world)
    winners = np.unique(awards.nomination_movie[awards.nomination_won]) - 1
    selected = np.unique(awards.selection_movie) - 1
    recent = out[world.movie_release[out] >= world.as_of.astype("datetime64[D]") - 240 * DAY]
    held = roles(world)
    makers = held.user[np.isin(held.role, [2, 3])]  # editors and curators
    n = max(8, world.scale.movies // 40)
    list_type = rng.choice(len(LIST_TYPES), size=n, p=[0.3, 0.15, 0.15, 0.15, 0.25])
    genre = rng.integers(0, len(vocab.GENRES), n)
    curator = makers[rng.integers(0, len(makers), n)]
    span = (world.as_of - world.launch).astype(np.int64)
    created = world.launch + (span * rng.random(n) ** 0.7).astype(np.int64) * SECOND
    published = rng.random(n) < 0.85
    items: list[list[I64]] = [[], [], []]
    by_genre = [out[(world.movie_genres[out] == g).any(axis=1)] for g in range(len(vocab.GENRES))]
    for i in range(n):
        k = int(rng.integers(5, 26))
        kind = LIST_TYPES[list_type[i]]
        pool_ = {"awards": winners, "festival": selected, "seasonal": recent}.get(kind, out)
        if kind == "genre":
            pool_ = by_genre[genre[i]]
        if len(pool_) > _SHORTLIST:
            # An editor looks at a shortlist, not at the whole catalogue.
            pool_ = np.unique(pool_[rng.integers(0, len(pool_), _SHORTLIST)])
        weight = quality[pool_] * (popularity[pool_] * len(popularity)) ** 0.3
        movie = _picks(rng, pool_, weight, k)
        items[0].append(np.full(len(movie), i))
        items[1].append(movie + 1)
        items[2].append(np.arange(1, len(movie) + 1))
    # Rails: per placement, a few rows, some for one region only.
    r = max(6, world.scale.movies // 500)
    placement = rng.integers(0, len(PLACEMENTS), r)
    region = np.where(rng.random(r) < 0.3, rng.integers(0, len(vocab.REGIONS), r), -1)
    source = rng.choice(len(RAIL_SOURCES), size=r, p=[0.2, 0.3, 0.2, 0.15, 0.15])
    live = np.flatnonzero(published)
    rail_list = np.where(source == 1, live[rng.integers(0, len(live), r)] + 1, 0)
    position = np.zeros(r, dtype=np.int64)
    for p in range(len(PLACEMENTS)):
        here = placement == p
        position[here] = np.arange(1, int(here.sum()) + 1)
    start = world.as_of - (rng.exponential(40, r) * 86_400).astype(np.int64) * SECOND
    start = np.maximum(start, world.launch)
    end = start + rng.integers(7, 90, r) * DAY
    end = np.where(rng.random(r) < 0.4, np.datetime64("NaT", "s"), end)
    rail_items: list[list[I64]] = [[], [], []]
    trending = Distribution(popularity)
    item_list = np.concatenate(items[0])
    item_movie = np.concatenate(items[1])
    for j in range(r):
        k = int(rng.integers(8, 21))
        if source[j] == 1:
            movie = item_movie[item_list == rail_list[j] - 1][:k] - 1
        elif source[j] == 2:
            movie = np.unique(sample(trending, rng, 3 * k))[:k]
        elif source[j] == 3:
            movie = _picks(rng, recent, popularity[recent], k)
        else:
            pool_ = np.unique(out[rng.integers(0, len(out), _SHORTLIST)])
            movie = _picks(rng, pool_, quality[pool_] * popularity[pool_] ** 0.5, k)
        rail_items[0].append(np.full(len(movie), j))
        rail_items[1].append(movie + 1)
        rail_items[2].append(np.arange(1, len(movie) + 1))
    return Lists(
        list_type=list_type,
        genre=genre,
        curator=curator,
        created=created,
        published=published,
        published_at=spread(created, np.full(n, world.as_of), rng.random(n) * 0.2),
        item_list=item_list,
        item_movie=item_movie,
        item_position=np.concatenate(items[2]),
        rail_placement=placement,
        rail_region=region,
        rail_position=position,
        rail_source=source,
        rail_list=rail_list,
        rail_start=start,
        rail_end=end,
        rail_item_rail=np.concatenate(rail_items[0]),
        rail_item_movie=np.concatenate(rail_items[1]),
        rail_item_position=np.concatenate(rail_items[2]),
    )


def curated_lists(world: World) -> Iterator[CopyRows]:
    p = lists(world)
    n = len(p.list_type)
    rng = rng_for(world.seed, "curated-lists")
    ids = np.arange(1, n + 1)
    titles = pool(
        [f"{LIST_TITLES[t]}" for t in LIST_TYPES[:4]] + [f"Best of {g[1]}" for g in vocab.GENRES]
    )
    title = np.where(p.list_type == 4, 4 + p.genre, p.list_type)
    slugs = pool([f"{LIST_TYPES[t]}-" for t in range(4)] + [f"best-{g[0]}-" for g in vocab.GENRES])
    published_at = p.published_at
    updated = spread(published_at, np.full(n, world.as_of), rng.random(n))
    rows = CopyRows(n)
    rows.ints("id", ids)
    rows.code("external_id", "cl", ids, 6)
    rows.text("slug", Take(slugs, title), int_text(ids))
    rows.text("title", Take(titles, title), b" #", int_text(ids))
    rows.text("description", b"Chosen by our editors.", null=rng.random(n) < 0.3)
    rows.text("list_type", Take(pool(LIST_TYPES), p.list_type))
    rows.ints("curator_id", p.curator)
    rows.bools("is_published", p.published)
    rows.timestamps("published_at", published_at, null=~p.published)
    rows.timestamps("created_at", p.created)
    rows.timestamps("updated_at", updated, null=rng.random(n) < 0.5)
    yield rows


def curated_list_movies(world: World) -> Iterator[CopyRows]:
    p = lists(world)
    k = len(p.item_list)
    rng = rng_for(world.seed, "curated-list-movies")
    created = p.created[p.item_list]
    rows = CopyRows(k)
    rows.ints("curated_list_id", p.item_list + 1)
    rows.ints("movie_id", p.item_movie)
    rows.ints("position", p.item_position)
    notes = pool(["A must-see.", "Our favourite this year.", "Watch it on a big screen."])
    rows.text("note", Take(notes, rng.integers(0, 3, k)), null=rng.random(k) < 0.7)
    rows.timestamps("added_at", spread(created, created + 2 * DAY, rng.random(k)))
    yield rows


def featured_rails(world: World) -> Iterator[CopyRows]:
    p = lists(world)
    n = len(p.rail_source)
    ids = np.arange(1, n + 1)
    rows = CopyRows(n)
    rows.ints("id", ids)
    rows.code("external_id", "fr", ids, 5)
    rows.text("title", Take(pool(RAIL_TITLES), p.rail_source))
    rows.text("placement", Take(pool(PLACEMENTS), p.rail_placement))
    region = p.rail_region
    rows.text("region", Take(pool(vocab.REGIONS), np.maximum(region, 0)), null=region < 0)
    rows.ints("position", p.rail_position)
    rows.text("source", Take(pool(RAIL_SOURCES), p.rail_source))
    rows.ints("curated_list_id", p.rail_list, null=p.rail_list == 0)
    rows.timestamps("starts_at", p.rail_start)
    rows.timestamps("ends_at", p.rail_end, null=np.isnat(p.rail_end))
    rows.timestamps("created_at", p.rail_start)
    rows.timestamps("updated_at", p.rail_start, null=np.ones(n, dtype=bool))
    yield rows


def featured_rail_movies(world: World) -> Iterator[CopyRows]:
    p = lists(world)
    k = len(p.rail_item_rail)
    rows = CopyRows(k)
    rows.ints("rail_id", p.rail_item_rail + 1)
    rows.ints("movie_id", p.rail_item_movie)
    rows.ints("position", p.rail_item_position)
    rows.timestamps("added_at", p.rail_start[p.rail_item_rail])
    yield rows


def movie_similarities(world: World) -> Iterator[CopyRows]:
    """Per released movie, 2 to 8 others of its primary genre (popular movies get more),
    scored by shared genres and nearby years; no movie is similar to itself."""
    rng = rng_for(world.seed, "movie-similarities")
    out = np.flatnonzero(released(world))
    genres = world.movie_genres
    by_genre = out[np.argsort(genres[out, 0], kind="stable")]
    block = genres[by_genre, 0]
    lo = np.searchsorted(block, genres[by_genre, 0], "left")
    hi = np.searchsorted(block, genres[by_genre, 0], "right")
    rel = world.movie_popularity[by_genre] * world.scale.movies
    k = np.clip(2 + rng.poisson(np.minimum(rel, 20) ** 0.5), 2, 8)
    source = np.repeat(by_genre, k)
    pick = np.repeat(lo, k) + (rng.random(len(source)) * np.repeat(hi - lo, k)).astype(np.int64)
    target = by_genre[pick]
    keep = source != target
    source, target = source[keep], target[keep]
    _, first = np.unique(source * world.scale.movies + target, return_index=True)
    source, target = source[first], target[first]
    a, b = genres[source], genres[target]
    shared = ((a[:, :, None] == b[:, None, :]) & (a[:, :, None] >= 0)).sum(axis=(1, 2))
    union = (a >= 0).sum(axis=1) + (b >= 0).sum(axis=1) - shared
    years = np.abs(world.movie_year[source] - world.movie_year[target])
    score = 0.55 * shared / union + 0.3 * np.exp(-years / 15) + 0.15 * rng.random(len(source))
    thousandths = np.clip(np.rint(score * 1000), 0, 1000).astype(np.int64)
    both_popular = (
        (rel.max() > 0)
        & (world.movie_popularity[target] * world.scale.movies > 1)
        & (world.movie_popularity[source] * world.scale.movies > 1)
    )
    method = np.where(both_popular, rng.choice([0, 1], len(source)), 2)
    method[rng.random(len(source)) < 0.02] = 3
    computed = world.as_of - rng.integers(3600, 30 * 86_400, len(source)) * SECOND
    for part in sliced(len(source)):
        m = part.stop - part.start
        rows = CopyRows(m)
        rows.ints("movie_id", source[part] + 1)
        rows.ints("similar_movie_id", target[part] + 1)
        rows.text("score", Take(SCORES, thousandths[part]))
        rows.text("method", Take(pool(METHODS), method[part]))
        rows.timestamps("computed_at", np.maximum(computed[part], world.launch))
        yield rows
