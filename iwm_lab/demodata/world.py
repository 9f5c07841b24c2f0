"""The attributes every table draws from: who is popular, when things happened, how good
each movie is. Built once per run (it scales with movies and users, not with reviews or
pulses), then every table generator reads it, so reviews agree with movies and users.

Index ``i`` of a per-movie (per-user, ...) array describes the row with id ``i + 1``.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from argon2 import PasswordHasher, Type
from argon2.low_level import hash_secret

from iwm_lab.demodata import vocab
from iwm_lab.demodata.copytext import ObjArray
from iwm_lab.demodata.scales import Scale
from iwm_lab.models.values import CREDIT_ROLES

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Dates = npt.NDArray[np.datetime64]
Mask = npt.NDArray[np.bool_]

RELEASED, UPCOMING, IN_PRODUCTION = 0, 1, 2
DAY = np.timedelta64(1, "D")
SECOND = np.timedelta64(1, "s")
# A person's kind is an index into CREDIT_ROLES: the role they are credited in.
ACTOR, DIRECTOR = CREDIT_ROLES.index("actor"), CREDIT_ROLES.index("director")
_KIND_SHARES = dict(zip(CREDIT_ROLES, (0.6, 0.06, 0.08, 0.1, 0.04, 0.06, 0.06), strict=True))


def rng_for(seed: int, *key: int | str) -> np.random.Generator:
    """An independent random stream for ``(seed, *key)``: a table's chunk, an entity."""
    words = [seed] + [k if isinstance(k, int) else zlib.crc32(k.encode()) for k in key]
    return np.random.default_rng(words)


class Distribution:
    """Indices 0..n-1 weighted by non-negative weights, for :func:`sample`.

    Sampling inverts the cumulative distribution. A plain binary search over 100k entries
    misses the cache at every step (~200 ns a draw); a guide table (the first index of each
    of n equal slices of [0, 1)) narrows each search to a few entries first (~20 ns), with
    exactly the same result.
    """

    __slots__ = ("cdf", "guide")

    def __init__(self, weights: F64) -> None:
        cdf = np.cumsum(weights, dtype=np.float64)
        self.cdf = cdf / cdf[-1]
        slices = np.arange(len(cdf) + 1, dtype=np.float64) / len(cdf)
        self.guide = np.searchsorted(self.cdf, slices, side="right")

    def __len__(self) -> int:
        return len(self.cdf)


def sample(dist: Distribution, rng: np.random.Generator, n: int, where: Mask | None = None) -> I64:
    """``n`` indices drawn from ``dist`` (with replacement); with ``where``, only those of the
    draws it marks (the stream still advances by ``n``, so later draws are unchanged)."""
    u = rng.random(n)
    if where is not None:
        u = u[where]
    # The first index whose cumulative weight exceeds u lies between the guide's entries
    # for u's slice and the next: most often the first of them, else one of the next few.
    # Stepping only the draws not yet placed touches far fewer entries than bisecting all
    # of them as far as the widest slice needs (and finds the same index).
    index = dist.guide[(u * len(dist.cdf)).astype(np.int64)]
    todo = np.flatnonzero(dist.cdf[index] <= u)
    while todo.size:
        index[todo] += 1
        todo = todo[dist.cdf[index[todo]] <= u[todo]]
    return index


def zipf_weights(scores: F64, alpha: float) -> F64:
    """Power-law weights by rank of ``scores`` (highest first): the top few get most."""
    ranks = np.empty(len(scores), dtype=np.float64)
    ranks[np.argsort(-scores, kind="stable")] = np.arange(1, len(scores) + 1)
    return ranks**-alpha


def between(lo: Dates, hi: Dates, fraction: F64) -> Dates:
    """Timestamps (to the second) at ``fraction`` of the way from ``lo`` to ``hi``."""
    lo_s, hi_s = lo.astype("datetime64[s]"), hi.astype("datetime64[s]")
    span = (hi_s - lo_s).astype(np.int64)
    moments: Dates = lo_s + (span * fraction).astype(np.int64) * SECOND
    return moments


def as_datetime64(value: datetime) -> np.datetime64:
    """``value`` as a naive UTC ``datetime64[s]``, the columns' timestamp without time zone."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return np.datetime64(value.replace(microsecond=0), "s")


@dataclass
class World:
    scale: Scale
    seed: int
    as_of: np.datetime64
    launch: np.datetime64  # the platform's first day; no user or review is older
    # movies
    movie_status: npt.NDArray[np.int8]
    movie_release: Dates  # datetime64[D]; NaT for unscheduled films
    movie_lang: I64
    movie_genres: I64  # (n, 3) genre indices, -1 where a movie has fewer genres
    movie_quality: F64  # latent quality, standard normal
    movie_popularity: F64  # power-law weight, summing to 1
    review_dist: Distribution
    watch_dist: Distribution
    pulse_dist: Distribution
    movie_title: ObjArray
    movie_external_id: ObjArray  # None where the movie has no external id
    movie_tag: ObjArray
    # people: kind (index into CREDIT_ROLES) and a popularity distribution per kind
    person_kind: I64
    person_ids_by_kind: list[I64]
    person_dist_by_kind: list[Distribution]
    # users
    user_created: Dates
    user_bias: F64
    user_activity: F64  # mean 1
    activity_dist: Distribution
    influence_dist: Distribution
    password_hashes: ObjArray
    # scenes and collections
    scene_movie: I64
    scene_views: I64
    scene_dist: Distribution
    collection_user: I64
    collection_created: Dates
    # What the platform areas' tables share, built on first use by the generator (in its
    # own process): replayed movie facts, credits, plans of whole areas.
    cache: dict[str, Any] = field(default_factory=dict)

    @property
    def movie_year(self) -> I64:
        return self.movie_release.astype("datetime64[Y]").astype(np.int64) + 1970


def build_world(scale: Scale, seed: int, as_of: datetime) -> World:
    """Everything the tables share, for ``scale`` and ``seed``, dated relative to ``as_of``."""
    now = as_datetime64(as_of)
    launch = (now.astype("datetime64[D]") - 12 * 365 * DAY).astype("datetime64[s]")
    movies = _movies(scale, seed, now)
    users = _users(scale, seed, now, launch)
    scenes = _scenes(scale, seed, movies["review_dist"], movies["popularity"])
    collections = _collections(scale, seed, users["activity_dist"], users["created"], now)
    kind, ids_by_kind, dist_by_kind = _people(scale, seed)
    return World(
        scale=scale,
        seed=seed,
        as_of=now,
        launch=launch,
        movie_status=movies["status"],
        movie_release=movies["release"],
        movie_lang=movies["lang"],
        movie_genres=movies["genres"],
        movie_quality=movies["quality"],
        movie_popularity=movies["popularity"],
        review_dist=movies["review_dist"],
        watch_dist=movies["watch_dist"],
        pulse_dist=movies["pulse_dist"],
        movie_title=movies["title"],
        movie_external_id=movies["external_id"],
        movie_tag=movies["tag"],
        person_kind=kind,
        person_ids_by_kind=ids_by_kind,
        person_dist_by_kind=dist_by_kind,
        user_created=users["created"],
        user_bias=users["bias"],
        user_activity=users["activity"],
        activity_dist=users["activity_dist"],
        influence_dist=users["influence_dist"],
        password_hashes=_password_hashes(seed),
        scene_movie=scenes[0],
        scene_views=scenes[1],
        scene_dist=Distribution(scenes[1].astype(np.float64)),
        collection_user=collections[0],
        collection_created=collections[1],
    )


def _movies(scale: Scale, seed: int, now: np.datetime64) -> dict[str, Any]:
    rng = rng_for(seed, "movies")
    n = scale.movies
    status = rng.choice(3, size=n, p=[0.9, 0.06, 0.04]).astype(np.int8)
    # Production grows over the decades: ages are exponential, with a long tail of classics.
    age_days = np.where(
        rng.random(n) < 0.85, rng.exponential(13 * 365, n), rng.uniform(0, 100 * 365, n)
    )
    today = now.astype("datetime64[D]")
    earliest = np.datetime64("1920-01-01")
    released = np.maximum(today - 1 * DAY - age_days.astype(np.int64) * DAY, earliest)
    upcoming = today + rng.integers(7, 540, n) * DAY
    planned = today + rng.integers(300, 1100, n) * DAY
    release = np.where(
        status == RELEASED, released, np.where(status == UPCOMING, upcoming, planned)
    )
    release[(status == IN_PRODUCTION) & (rng.random(n) < 0.4)] = np.datetime64("NaT", "D")

    langs = np.array([lang[2] for lang in vocab.LANGUAGES])
    lang = rng.choice(len(langs), size=n, p=langs / langs.sum())
    genres = _genres(rng, n)
    quality = rng.standard_normal(n)

    recency = np.exp(-np.abs((release - today).astype(np.float64)) / (8 * 365))
    recency = np.nan_to_num(recency, nan=0.3)
    english = np.isin(lang, [i for i, row in enumerate(vocab.LANGUAGES) if row[0] == "English"])
    buzz = quality + 1.5 * recency + 0.6 * english + rng.normal(0, 1.2, n)
    popularity = zipf_weights(buzz, alpha=1.05)
    popularity /= popularity.sum()
    soon = np.abs((release - today).astype(np.float64)) < 120
    review_w = np.where(status == RELEASED, popularity, 0.0)
    watch_w = popularity * np.where(status == UPCOMING, 1.5, 1.0)
    pulse_w = popularity * np.where(np.nan_to_num(soon), 8.0, 1.0)
    title = _titles(rng, lang)
    has_external = rng.random(n) < 0.96
    external = np.array(
        [f"tmdb_{10_000 + i * 7}".encode() if has else None for i, has in enumerate(has_external)],
        dtype=object,
    )
    tag = np.array([_hashtag(t) for t in title], dtype=object)
    return {
        "status": status,
        "release": release,
        "lang": lang,
        "genres": genres,
        "quality": quality,
        "popularity": popularity,
        "review_dist": Distribution(review_w),
        "watch_dist": Distribution(watch_w),
        "pulse_dist": Distribution(pulse_w),
        "title": np.array([t.encode() for t in title], dtype=object),
        "external_id": external,
        "tag": tag,
    }


def _genres(rng: np.random.Generator, n: int) -> I64:
    """1 to 3 distinct genres per movie, the first its primary: Gumbel top-k by weight."""
    weights = np.array([g[2] for g in vocab.GENRES])
    keys = np.log(weights) + rng.gumbel(size=(n, len(weights)))
    picks = np.argsort(-keys, axis=1)[:, :3].astype(np.int64)
    count = rng.choice([1, 2, 3], size=n, p=[0.35, 0.45, 0.2])
    picks[count < 2, 1] = -1
    picks[count < 3, 2] = -1
    return picks


def _titles(rng: np.random.Generator, lang: I64) -> list[str]:
    n = len(lang)
    adj = rng.integers(0, len(vocab.TITLE_ADJECTIVES), n)
    noun = rng.integers(0, len(vocab.TITLE_NOUNS), (n, 2))
    first = rng.integers(0, len(vocab.FIRST_NAMES), n)
    sub = rng.integers(0, len(vocab.TITLE_SUBTITLES), n)
    pattern = rng.choice(6, size=n, p=[0.3, 0.15, 0.15, 0.1, 0.2, 0.1])
    native = rng.random(n) < 0.6
    words = rng.integers(0, 1 << 30, (n, 2))
    sequel = np.where(rng.random(n) < 0.05, rng.integers(0, len(vocab.SEQUEL_MARKS), n), -1)
    titles = []
    for i in range(n):
        own = vocab.LANGUAGES[lang[i]][4]
        a, n1 = vocab.TITLE_ADJECTIVES[adj[i]], vocab.TITLE_NOUNS[noun[i, 0]]
        n2 = vocab.TITLE_NOUNS[noun[i, 1]]
        if own and native[i]:
            title = f"{own[words[i, 0] % len(own)]} {own[words[i, 1] % len(own)]}"
        else:
            title = (
                f"The {a} {n1}",
                f"{n1} of the {n2}",
                f"{a} {n1}",
                f"{vocab.FIRST_NAMES[first[i]]}'s {n1}",
                n1,
                f"{n1}: {vocab.TITLE_SUBTITLES[sub[i]]}",
            )[pattern[i]]
        if sequel[i] >= 0:
            title += vocab.SEQUEL_MARKS[sequel[i]]
        titles.append(title)
    return titles


def _hashtag(title: str) -> bytes:
    words = re.split(r"\W+", title.replace("'", ""))
    return ("#" + "".join(w[:1].upper() + w[1:] for w in words if w)).encode()


def _people(scale: Scale, seed: int) -> tuple[I64, list[I64], list[Distribution]]:
    rng = rng_for(seed, "people")
    shares = [_KIND_SHARES[role] for role in CREDIT_ROLES]
    kind = rng.choice(len(shares), size=scale.people, p=shares).astype(np.int64)
    ids_by_kind, dist_by_kind = [], []
    for k in range(len(shares)):
        ids = np.flatnonzero(kind == k) + 1
        if len(ids) == 0:  # a tiny scale may miss a rare kind; borrow everyone
            ids = np.arange(1, scale.people + 1)
        ids_by_kind.append(ids.astype(np.int64))
        dist_by_kind.append(Distribution(zipf_weights(rng.random(len(ids)), alpha=0.8)))
    return kind, ids_by_kind, dist_by_kind


def _users(scale: Scale, seed: int, now: np.datetime64, launch: np.datetime64) -> dict[str, Any]:
    rng = rng_for(seed, "users")
    n = scale.users
    # Sign-ups grow over time: more users joined recently.
    created = between(np.full(n, launch), np.full(n, now), rng.random(n) ** 0.6)
    activity = rng.lognormal(0.0, 1.3, n)
    activity /= activity.mean()
    influence = zipf_weights(rng.random(n) + 0.3 * np.log(activity), alpha=0.9)
    return {
        "created": created,
        "bias": rng.normal(0.0, 0.6, n),
        "activity": activity,
        "activity_dist": Distribution(activity),
        "influence_dist": Distribution(influence),
    }


def _scenes(scale: Scale, seed: int, review_dist: Distribution, popularity: F64) -> tuple[I64, I64]:
    rng = rng_for(seed, "scenes")
    movie = sample(review_dist, rng, scale.scenes)
    movie.sort(kind="stable")
    lift = np.sqrt(popularity[movie] * len(popularity))
    views = np.minimum(rng.lognormal(6.5, 1.5, scale.scenes) * (1 + lift), 2e9)
    return movie + 1, views.astype(np.int64)


def _collections(
    scale: Scale,
    seed: int,
    activity_dist: Distribution,
    user_created: Dates,
    now: np.datetime64,
) -> tuple[I64, Dates]:
    rng = rng_for(seed, "collections")
    user = sample(activity_dist, rng, scale.collections)
    created = between(user_created[user], np.full(len(user), now), rng.random(len(user)))
    return user + 1, created


def _password_hashes(seed: int) -> ObjArray:
    """Argon2id hashes of the few demo passwords, verifiable with argon2's PasswordHasher.

    Salts come from the seed rather than os.urandom: the same seed must give the same rows.
    """
    hasher = PasswordHasher()
    hashes = []
    for i, password in enumerate(vocab.PASSWORDS):
        salt = hashlib.sha256(f"iwm-lab demo salt {seed} {i}".encode()).digest()[:16]
        hashes.append(
            hash_secret(
                password.encode(),
                salt,
                time_cost=hasher.time_cost,
                memory_cost=hasher.memory_cost,
                parallelism=hasher.parallelism,
                hash_len=hasher.hash_len,
                type=Type.ID,
            )
        )
    out = np.empty(len(hashes), dtype=object)
    out[:] = hashes
    return out
