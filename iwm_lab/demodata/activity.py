"""Rows of what users do: accounts, reviews, collections, the watchlist and favorites.

Heavy users (``World.user_activity``) write most of it and popular movies receive most of it.
Tables with a unique pair (watchlist's user and movie) are generated per slice of users, so
removing repeats within a slice keeps the pairs unique overall.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator

import numpy as np

from iwm_lab.demodata import tallies, vocab
from iwm_lab.demodata.catalog import FULL_NAMES, IMAGES, ROW_CHUNK, chunks
from iwm_lab.demodata.copytext import CopyRows, ObjArray, Take, int_text, json_array, pool
from iwm_lab.demodata.world import (
    ACTOR,
    DIRECTOR,
    RELEASED,
    World,
    between,
    rng_for,
    sample,
)
from iwm_lab.models.values import (
    FAVORITE_TYPES,
    WATCHLIST_PRIORITIES,
    WATCHLIST_STATUSES,
)

# Users per chunk of the tables generated per user (watchlist, favorites, follows).
USER_CHUNK = 5_000
MEDIA = "https://media.iwm.example"
_GENRE_RATING = np.array([g[3] for g in vocab.GENRES])


def _ascii(name: str) -> str:
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return folded.replace("'", "").lower()


def file_names(rng: np.random.Generator, size: int = 4096) -> ObjArray:
    """A pool of random media file names; callers pick from it by index."""
    return pool([f"{x:012x}" for x in rng.integers(0, 1 << 48, size)])


def users(world: World) -> Iterator[CopyRows]:
    # Address "first.last<id>@domain", as pieces indexed like FULL_NAMES.
    locals_ = pool(
        [f"{_ascii(f)}.{_ascii(g)}" for f in vocab.FIRST_NAMES for g in vocab.LAST_NAMES]
    )
    domains = pool([f"@{domain}" for domain in vocab.EMAIL_DOMAINS])
    for number, idx in chunks(world.scale.users, ROW_CHUNK):
        rng = rng_for(world.seed, "users-table", number)
        n, ids = len(idx), idx + 1
        name = rng.integers(0, len(FULL_NAMES), n)
        created = world.user_created[idx]
        rows = CopyRows(n)
        rows.ints("id", ids)
        rows.code("external_id", "usr", ids, 9)
        # The id keeps the address unique.
        rows.text(
            "email",
            Take(locals_, name),
            int_text(ids),
            Take(domains, rng.integers(0, len(domains), n)),
        )
        rows.text("hashed_password", Take(world.password_hashes, rng.integers(0, 5, n)))
        rows.text("name", Take(FULL_NAMES, name))
        rows.code(
            "avatar_url",
            f"{IMAGES}/avatars/",
            ids,
            len(str(world.scale.users)),
            ".png",
            null=rng.random(n) < 0.45,
        )
        rows.timestamps("created_at", created)
        updated = between(created, np.full(n, world.as_of), rng.random(n))
        rows.timestamps("updated_at", updated, null=rng.random(n) < 0.4)
        yield rows


def _paragraphs(rng: np.random.Generator, per_sentiment: int) -> ObjArray:
    """Review texts of 2 to 5 sentences, ``per_sentiment`` of each sentiment in turn."""
    texts = []
    for sentences in vocab.REVIEW_SENTENCES:
        for _ in range(per_sentiment):
            picks = rng.permutation(len(sentences))[: rng.integers(2, 6)]
            texts.append(" ".join(sentences[i] for i in picks))
    return pool(texts)


def reviews(world: World) -> Iterator[CopyRows]:
    """Reviews of released movies, rated high on average (mean about 7), better for good
    movies, classics and some genres, with each user's own leniency and a few 10/10 fans."""
    titles = pool([t for level in vocab.REVIEW_TITLES for t in level])
    per_level = len(vocab.REVIEW_TITLES[0])
    pools = rng_for(world.seed, "review-pools")
    paragraphs_per_level = 4096
    paragraphs = _paragraphs(pools, paragraphs_per_level)
    # Media documents, then NULL: picked by index, no per-chunk pool to build.
    media = pool([f'["{MEDIA}/reviews/{name.decode()}.jpg"]' for name in file_names(pools)])
    media = np.append(media, np.array([b"\\N"], dtype=object))
    chunk = ROW_CHUNK
    total = world.scale.reviews
    counter = tallies.review_counter(world)
    for number, start in enumerate(range(0, total, chunk)):
        rng = rng_for(world.seed, "reviews", number)
        n = min(chunk, total - start)
        ids = np.arange(start + 1, start + n + 1)
        movie, user, date = review_heads(world, rng, n)
        q = world.movie_quality[movie]
        year = world.movie_year[movie]
        score = (
            6.3
            + 0.9 * q
            + _GENRE_RATING[world.movie_genres[movie, 0]]
            + np.where(year < 1980, 0.35, 0.0)
            + world.user_bias[user]
            + rng.normal(0, 1.4, n)
        )
        score = np.where((q > 0) & (rng.random(n) < 0.04), 10.0, score)
        halves = np.clip(np.rint(score * 2), 0, 20).astype(np.int64)
        sentiment = np.where(halves < 10, 0, np.where(halves < 15, 1, 2))
        rel = np.minimum(world.movie_popularity[movie] * world.scale.movies, 50)
        helpful = np.minimum(rng.lognormal(0.3, 1.2, n) * (1 + rel**0.5), 50_000).astype(np.int64)
        unhelpful = (helpful * rng.uniform(0, 0.3, n)).astype(np.int64) + rng.poisson(0.5, n)
        comments = rng.poisson(helpful / 8 + 0.3)
        rows = CopyRows(n)
        rows.ints("id", ids)
        rows.code("external_id", "rv", ids, 9)
        rows.text("title", Take(titles, sentiment * per_level + rng.integers(0, per_level, n)))
        content = sentiment * paragraphs_per_level + rng.integers(0, paragraphs_per_level, n)
        rows.text("content", Take(paragraphs, content))
        rows.tenths("rating", halves * 5)
        rows.timestamps("date", date)
        rows.bools("has_spoilers", rng.random(n) < 0.07)
        rows.bools("is_verified", rng.random(n) < 0.35)
        rows.ints("helpful_votes", helpful)
        rows.ints("unhelpful_votes", unhelpful)
        rows.ints("comment_count", comments)
        rows.ints("engagement_score", np.maximum(helpful * 2 + comments * 3 - unhelpful, 0))
        picture = rng.integers(0, len(media) - 1, n)
        rows.text(
            "media_urls", Take(media, np.where(rng.random(n) < 0.92, len(media) - 1, picture))
        )
        rows.ints("user_id", user + 1)
        rows.ints("movie_id", movie + 1)
        if counter is not None:
            counter.add(movie, halves, date)
        yield rows


def review_heads(
    world: World, rng: np.random.Generator, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first draws of a chunk of reviews: movie and user indices and the date (the
    moderation queue replays them to date reports after the review they are about)."""
    movie = sample(world.review_dist, rng, n)
    user = sample(world.activity_dist, rng, n)
    released = world.movie_release[movie].astype("datetime64[s]")
    earliest = np.maximum(np.maximum(released, world.user_created[user]), world.launch)
    # Most reviews come soon after release (or sign-up), a long tail later.
    date = between(earliest, np.full(n, world.as_of), rng.random(n) ** 2)
    return movie, user, date


def collections(world: World) -> Iterator[CopyRows]:
    tags = pool([f'"{tag}"' for tag in vocab.COLLECTION_TAGS])
    for number, idx in chunks(world.scale.collections, ROW_CHUNK):
        rng = rng_for(world.seed, "collections-table", number)
        n, ids = len(idx), idx + 1
        created = world.collection_created[idx]
        count = rng.integers(0, 4, n)
        first_tag = rng.integers(0, len(tags), n)
        rows = CopyRows(n)
        rows.ints("id", ids)
        rows.code("external_id", "col", ids, 8)
        rows.text("title", Take(pool(vocab.COLLECTION_TITLES), rng.integers(0, 12, n)))
        rows.text(
            "description",
            Take(pool(vocab.COLLECTION_DESCRIPTIONS), rng.integers(0, 4, n)),
            null=rng.random(n) < 0.3,
        )
        rows.bools("is_public", rng.random(n) < 0.8)
        rows.ints("followers", np.minimum(rng.lognormal(1.0, 1.6, n), 1e6).astype(np.int64))
        # Distinct tags: consecutive entries of the pool from a random start.
        items = [[Take(tags, (first_tag + j) % len(tags))] for j in range(3)]
        rows.text("tags", *json_array(items, [count > j for j in range(3)]), null=count == 0)
        rows.timestamps("created_at", created)
        updated = between(created, np.full(n, world.as_of), rng.random(n))
        rows.timestamps("updated_at", updated, null=rng.random(n) < 0.5)
        rows.ints("user_id", world.collection_user[idx])
        yield rows


def collection_movies(world: World) -> Iterator[CopyRows]:
    """Movies of each collection: mostly popular titles, some hidden gems, no repeats."""
    mean = world.scale.movies_per_collection
    for number, idx in chunks(world.scale.collections, USER_CHUNK):
        rng = rng_for(world.seed, "collection-movies", number)
        size = np.clip(np.rint(rng.lognormal(np.log(mean) - 0.3, 0.8, len(idx))), 3, 150)
        collection = np.repeat(idx, size.astype(np.int64))
        total = len(collection)
        popular = sample(world.review_dist, rng, total)
        movie = np.where(
            rng.random(total) < 0.7, popular, rng.integers(0, world.scale.movies, total)
        )
        _, first = np.unique(collection * world.scale.movies + movie, return_index=True)
        first.sort()
        collection, movie = collection[first], movie[first]
        k = len(collection)
        starts = np.flatnonzero(np.r_[True, collection[1:] != collection[:-1]])
        position = np.arange(k) - np.repeat(starts, np.diff(np.r_[starts, k])) + 1
        created = world.collection_created[collection]
        rows = CopyRows(k)
        rows.ints("collection_id", collection + 1)
        rows.ints("movie_id", movie + 1)
        rows.ints("position", position)
        rows.timestamps("added_at", between(created, np.full(k, world.as_of), rng.random(k)))
        yield rows


def _lift(world: World) -> tuple[np.ndarray, np.float64]:
    """Each user's activity lift and its mean, for :func:`_per_user` (computed once a table:
    over every user, it would otherwise cost more than a chunk's own rows)."""
    lift: np.ndarray = world.user_activity**0.7
    return lift, lift.mean()


def _per_user(
    lift: tuple[np.ndarray, np.float64], rng: np.random.Generator, idx: np.ndarray, mean: float
) -> np.ndarray:
    """How many rows each user in ``idx`` gets: Poisson around ``mean``, lifted by activity."""
    counts: np.ndarray = rng.poisson(mean * lift[0][idx] / lift[1])
    return counts


def watchlist(world: World) -> Iterator[CopyRows]:
    next_id = 1
    lift = _lift(world)
    for number, idx in chunks(world.scale.users, USER_CHUNK):
        rng = rng_for(world.seed, "watchlist", number)
        count = np.minimum(_per_user(lift, rng, idx, world.scale.watchlist_per_user), 500)
        user = np.repeat(idx, count)
        movie = sample(world.watch_dist, rng, len(user))
        # A movie is on a user's watchlist once: keep the first of repeated pairs.
        _, first = np.unique(user * world.scale.movies + movie, return_index=True)
        user, movie = user[first], movie[first]
        k = len(user)
        out = world.movie_status[movie] == RELEASED
        status = np.where(out, rng.choice(4, size=k, p=[0.5, 0.08, 0.37, 0.05]), 0)
        progress = np.select(
            [status == 1, status == 2, status == 3],
            [rng.integers(5, 96, k), np.full(k, 100), rng.integers(5, 61, k)],
            0,
        )
        priority = np.where(
            out,
            rng.choice(3, size=k, p=[0.25, 0.5, 0.25]),
            rng.choice(3, size=k, p=[0.1, 0.4, 0.5]),
        )
        earliest = np.maximum(world.user_created[user], world.launch)
        rows = CopyRows(k)
        ids = np.arange(next_id, next_id + k)
        rows.ints("id", ids)
        rows.code("external_id", "wl", ids, 10)
        rows.timestamps("date_added", between(earliest, np.full(k, world.as_of), rng.random(k)))
        rows.text("status", Take(pool(WATCHLIST_STATUSES), status))
        rows.text("priority", Take(pool(WATCHLIST_PRIORITIES), priority))
        rows.ints("progress", progress)
        rows.ints("user_id", user + 1)
        rows.ints("movie_id", movie + 1)
        next_id += k
        yield rows


def favorites(world: World) -> Iterator[CopyRows]:
    """Favorite movies, people (mostly actors), scenes and articles (which have no id column
    here); each target at most once per user."""
    next_id = 1
    lift = _lift(world)
    movie_t, person_t, scene_t = (FAVORITE_TYPES.index(t) for t in ("movie", "person", "scene"))
    for number, idx in chunks(world.scale.users, USER_CHUNK):
        rng = rng_for(world.seed, "favorites", number)
        count = np.minimum(_per_user(lift, rng, idx, world.scale.favorites_per_user), 200)
        user = np.repeat(idx, count)
        total = len(user)
        kind = rng.choice(len(FAVORITE_TYPES), size=total, p=[0.6, 0.22, 0.13, 0.05])
        director = rng.random(total) < 0.2
        # Every row draws all four targets, to keep the random streams as they were; only
        # the draws of its own kind are looked up (a quarter of the generator's time here).
        is_director = (kind == person_t) & director
        is_actor = (kind == person_t) & ~director
        is_movie, is_scene = kind == movie_t, kind == scene_t
        target = np.zeros(total, dtype=np.int64)
        target[is_director] = world.person_ids_by_kind[DIRECTOR][
            sample(world.person_dist_by_kind[DIRECTOR], rng, total, where=is_director)
        ]
        target[is_actor] = world.person_ids_by_kind[ACTOR][
            sample(world.person_dist_by_kind[ACTOR], rng, total, where=is_actor)
        ]
        target[is_movie] = sample(world.review_dist, rng, total, where=is_movie) + 1
        target[is_scene] = sample(world.scene_dist, rng, total, where=is_scene) + 1
        widest = max(world.scale.people, world.scale.scenes, world.scale.movies) + 1
        key = (user * len(FAVORITE_TYPES) + kind) * widest + target
        _, first = np.unique(key, return_index=True)
        user, kind, target = user[first], kind[first], target[first]
        k = len(user)
        ids = np.arange(next_id, next_id + k)
        rows = CopyRows(k)
        rows.ints("id", ids)
        rows.code("external_id", "fav", ids, 9)
        rows.text("type", Take(pool(FAVORITE_TYPES), kind))
        earliest = np.maximum(world.user_created[user], world.launch)
        rows.timestamps("added_date", between(earliest, np.full(k, world.as_of), rng.random(k)))
        rows.ints("user_id", user + 1)
        rows.ints("movie_id", target, null=kind != movie_t)
        rows.ints("person_id", target, null=kind != person_t)
        rows.ints("scene_id", target, null=kind != scene_t)
        next_id += k
        yield rows
