"""Rows of the catalogue: genres, movies, people, credits, scenes, streaming platforms and
offers. Each generator yields :class:`CopyRows` chunks, deterministic per ``(seed, chunk)``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from iwm_lab.demodata import vocab
from iwm_lab.demodata.copytext import (
    CopyRows,
    ObjArray,
    Part,
    Take,
    digits,
    int_text,
    masked,
    pool,
)
from iwm_lab.demodata.world import (
    ACTOR,
    DAY,
    F64,
    I64,
    RELEASED,
    World,
    between,
    rng_for,
    sample,
)
from iwm_lab.models.values import CREDIT_ROLES, MOVIE_STATUSES

# Rows per chunk (movies per chunk for tables generated per movie). Small enough that the
# chunks in flight stay a few megabytes each, large enough that numpy's per-call overhead
# stays negligible.
MOVIE_CHUNK = 5_000
ROW_CHUNK = 20_000
IMAGES = "https://image.iwm.example"

# Every "First Last" name, so that a name is one piece: index first * len(LAST) + last.
FULL_NAMES = pool([f"{f} {last}" for f in vocab.FIRST_NAMES for last in vocab.LAST_NAMES])
_GENRE_RATING = np.array([g[3] for g in vocab.GENRES])
_GENRE_RUNTIME = np.array([g[4] for g in vocab.GENRES])
_KIDS = [i for i, g in enumerate(vocab.GENRES) if g[0] in ("family", "animation")]
_HORROR = [i for i, g in enumerate(vocab.GENRES) if g[0] == "horror"]
_INDIAN = [i for i, lang in enumerate(vocab.LANGUAGES) if lang[1] == "India"]
_ENGLISH = [i for i, lang in enumerate(vocab.LANGUAGES) if lang[0] == "English"]


def chunks(total: int, size: int) -> Iterator[tuple[int, np.ndarray]]:
    """``(chunk number, 0-based indices)`` covering ``range(total)`` in slices of ``size``."""
    for number, start in enumerate(range(0, total, size)):
        yield number, np.arange(start, min(start + size, total), dtype=np.int64)


def genres(world: World) -> Iterator[CopyRows]:
    rows = CopyRows(len(vocab.GENRES))
    rows.ints("id", np.arange(1, len(vocab.GENRES) + 1))
    rows.text("slug", pool([g[0] for g in vocab.GENRES]))
    rows.text("name", pool([g[1] for g in vocab.GENRES]))
    yield rows


def movies(world: World) -> Iterator[CopyRows]:
    for rows, _ in movie_chunks(world):
        yield rows


def movie_chunks(
    world: World, trivia: _Trivia | None = None
) -> Iterator[tuple[CopyRows, MovieFacts]]:
    """The chunks of ``movies`` with the drawn values other tables must agree with (money,
    scores, trivia): the platform areas replay this rather than draw them again. ``trivia``
    is :func:`trivia_pool`'s, if the caller has it already."""
    langs = vocab.LANGUAGES
    trivia = trivia or trivia_pool(world)
    blockbuster_from = np.sort(world.movie_popularity)[-max(2, world.scale.movies // 1000)]
    for number, idx in chunks(world.scale.movies, MOVIE_CHUNK):
        rng = rng_for(world.seed, "movies-table", number)
        n, ids = len(idx), idx + 1
        status, release = world.movie_status[idx], world.movie_release[idx]
        released, primary = status == RELEASED, world.movie_genres[idx, 0]
        q = world.movie_quality[idx]
        undated = np.isnat(release)
        obscure = world.movie_popularity[idx] * world.scale.movies < 0.5
        rows = CopyRows(n)
        rows.ints("id", ids)
        external = world.movie_external_id[idx]
        rows.text("external_id", np.where(external == None, b"", external), null=external == None)  # noqa: E711
        rows.text("title", world.movie_title[idx])
        rows.text(
            "tagline",
            Take(pool(vocab.TAGLINES), rng.integers(0, len(vocab.TAGLINES), n)),
            null=rng.random(n) < 0.35,
        )
        rows.text("year", digits(np.where(undated, 0, world.movie_year[idx]), 4), null=undated)
        rows.timestamps("release_date", release, null=undated)
        runtime = 100 + _GENRE_RUNTIME[primary] + rng.normal(0, 18, n)
        rows.ints(
            "runtime",
            np.clip(runtime, 62, 220).astype(np.int64),
            null=(status == 2) & (rng.random(n) < 0.5),
        )
        # One latent quality drives all four scores; each adds noise of its own.
        siddu = 6.6 + 0.85 * q + _GENRE_RATING[primary] + rng.normal(0, 0.45, n)
        critics = 6.0 + 1.25 * q + rng.normal(0, 0.8, n)
        imdb = 6.3 + 0.95 * q + rng.normal(0, 0.35, n)
        fresh = 100 / (1 + np.exp(-(1.7 * q + rng.normal(0, 0.6, n) + 0.4)))
        siddu_null = ~released | (rng.random(n) < 0.1)
        rows.tenths("siddu_score", _tenths(siddu, 0, 10), null=siddu_null)
        critics_null = ~released | (obscure & (rng.random(n) < 0.3))
        rows.tenths("critics_score", _tenths(critics, 0, 10), null=critics_null)
        rows.tenths("imdb_rating", _tenths(imdb, 1, 9.7), null=~released)
        rows.ints(
            "rotten_tomatoes_score",
            np.clip(np.rint(fresh), 0, 100).astype(np.int64),
            null=~released | (obscure & (rng.random(n) < 0.35)),
        )
        rows.text(
            "rating", _content_rating(rng, primary, world.movie_lang[idx]), null=rng.random(n) < 0.1
        )
        lang = world.movie_lang[idx]
        rows.text("language", Take(pool([lang[0] for lang in langs]), lang))
        rows.text("country", Take(pool([lang[1] for lang in langs]), lang))
        rows.text(
            "overview",
            Take(pool(vocab.OVERVIEW_OPENINGS), rng.integers(0, len(vocab.OVERVIEW_OPENINGS), n)),
            b" ",
            Take(pool(vocab.OVERVIEW_MIDDLES), rng.integers(0, len(vocab.OVERVIEW_MIDDLES), n)),
            b" ",
            Take(pool(vocab.OVERVIEW_ENDINGS), rng.integers(0, len(vocab.OVERVIEW_ENDINGS), n)),
            null=rng.random(n) < 0.08,
        )
        digits_of_id = len(str(world.scale.movies))
        for column, folder, missing in (
            ("poster_url", "posters", 0.1),
            ("backdrop_url", "backdrops", 0.25),
        ):
            rows.code(
                column,
                f"{IMAGES}/{folder}/",
                ids,
                digits_of_id,
                ".jpg",
                null=rng.random(n) < missing,
            )
        budget, revenue = _money(rng, world, idx, blockbuster_from)
        rows.ints("budget", np.nan_to_num(budget).astype(np.int64), null=np.isnan(budget))
        rows.ints("revenue", np.nan_to_num(revenue).astype(np.int64), null=np.isnan(revenue))
        rows.text("status", Take(pool(MOVIE_STATUSES), status.astype(np.int64)))
        about_budget, millions, rest = trivia.draw(rng, budget)
        trivia_null = rng.random(n) >= 0.7
        rows.text("trivia", *trivia.pieces(about_budget, millions, rest), null=trivia_null)
        timeline = _timeline(rng, world, release)
        no_timeline = (timeline == None) | (rng.random(n) >= 0.85)  # noqa: E711
        rows.text("timeline", np.where(timeline == None, b"", timeline), null=no_timeline)  # noqa: E711
        facts = MovieFacts(
            budget=budget,
            revenue=revenue,
            siddu=np.where(siddu_null, np.nan, _tenths(siddu, 0, 10) / 10),
            critics=np.where(critics_null, np.nan, _tenths(critics, 0, 10) / 10),
            trivia=np.where(trivia_null, -1, rest),
            trivia_budget=about_budget & ~trivia_null,
            trivia_millions=millions,
        )
        yield rows, facts


@dataclass
class MovieFacts:
    """Per movie of a chunk: budget and revenue in USD and the siddu and critics scores
    (NaN = NULL); ``trivia`` the index of the document's rest in :class:`_Trivia` (-1 = no
    trivia), ``trivia_budget`` whether it opens with the budget question, of
    ``trivia_millions`` million."""

    budget: F64
    revenue: F64
    siddu: F64
    critics: F64
    trivia: I64
    trivia_budget: npt.NDArray[np.bool_]
    trivia_millions: I64


def _tenths(values: np.ndarray, low: float, high: float) -> I64:
    tenths: I64 = np.rint(np.clip(values, low, high) * 10).astype(np.int64)
    return tenths


def _content_rating(rng: np.random.Generator, primary: I64, lang: I64) -> Take:
    n = len(primary)
    us = rng.choice(6, size=n, p=[0.05, 0.15, 0.38, 0.3, 0.02, 0.1])
    kids = rng.choice(6, size=n, p=[0.35, 0.5, 0.1, 0.0, 0.0, 0.05])
    horror = rng.choice(6, size=n, p=[0.0, 0.02, 0.3, 0.6, 0.03, 0.05])
    india = 6 + rng.choice(3, size=n, p=[0.35, 0.5, 0.15])
    pick = np.where(np.isin(primary, _KIDS), kids, np.where(np.isin(primary, _HORROR), horror, us))
    return Take(pool(vocab.CONTENT_RATINGS), np.where(np.isin(lang, _INDIAN), india, pick))


def _money(
    rng: np.random.Generator, world: World, idx: I64, blockbuster_from: float
) -> tuple[np.ndarray, np.ndarray]:
    """Budgets and worldwide grosses in USD (NaN = unknown); the biggest hits pass 2**31."""
    n = len(idx)
    english = np.isin(world.movie_lang[idx], _ENGLISH)
    budget = rng.lognormal(np.where(english, np.log(25e6), np.log(4e6)), 1.1)
    budget = np.minimum(budget, 3.5e8)
    rel = world.movie_popularity[idx] * world.scale.movies
    revenue = budget * rng.lognormal(0.3, 0.9, n) * np.minimum(1 + rel, 30) ** 0.5
    # The handful of most popular films are the record-breaking blockbusters.
    released = world.movie_status[idx] == RELEASED
    blockbuster = (world.movie_popularity[idx] >= blockbuster_from) & released
    budget = np.where(blockbuster, rng.uniform(2.0e8, 3.5e8, n), budget)
    revenue = np.where(blockbuster, rng.uniform(2.2e9, 2.95e9, n), revenue)
    budget[~blockbuster & (rng.random(n) < 0.35)] = np.nan
    revenue[~released | (~blockbuster & (rng.random(n) < 0.4))] = np.nan
    return np.round(budget, -3), np.round(revenue, -3)


def trivia_pool(world: World) -> _Trivia:
    """The pools the trivia documents of ``world`` are drawn from."""
    return _Trivia(rng_for(world.seed, "trivia-pools"))


class _Trivia:
    """Trivia documents shaped as the seed's (question, category, answer, explanation): one
    to three objects, the first about the budget when that is known, as in the seed.

    Documents are drawn from pools made once per run, so a row is at most three pieces: the
    opening (``[`` or the budget object up to its number), the number, and the rest."""

    def __init__(self, rng: np.random.Generator, size: int = 4096) -> None:
        objects = [
            [
                json.dumps({"question": q, "category": c, "answer": a, "explanation": e})
                for a in answers
            ]
            for q, c, answers, e in vocab.TRIVIA
        ]
        budget = json.dumps(
            {
                "question": "What was the budget?",
                "category": "production",
                "answer": "$<millions> million",
                "explanation": "Figures reported by the studio.",
            }
        )
        head, tail = budget.split("<millions>")
        self.heads = pool(["[", "[" + head])
        # Rests of documents: 1 to 3 objects alone, or 0 to 2 objects after the budget one.
        rests = []
        # Per rest: the (TRIVIA row, answer) of each object after the budget one.
        self.items: list[list[tuple[int, int]]] = []
        for after_budget in (False, True):
            for _ in range(size):
                count = int(rng.choice(3, p=[0.4, 0.35, 0.25])) + (not after_budget)
                first = int(rng.integers(len(objects)))
                rows_ = [(first + j) % len(objects) for j in range(count)]
                answers = [int(rng.integers(len(objects[row]))) for row in rows_]
                picked = [objects[row][a] for row, a in zip(rows_, answers, strict=True)]
                self.items.append(list(zip(rows_, answers, strict=True)))
                body = ", ".join(picked) + "]"
                rests.append(tail + (", " + body if picked else "]") if after_budget else body)
        self.rests = pool(rests)
        self.size = size

    def draw(
        self, rng: np.random.Generator, budget: np.ndarray
    ) -> tuple[npt.NDArray[np.bool_], I64, I64]:
        """Per movie: whether its document opens with the budget, the budget in millions,
        and the index of the document's rest."""
        n = len(budget)
        about_budget = ~np.isnan(budget) & (rng.random(n) < 0.5)
        millions = np.rint(np.nan_to_num(budget) / 1e6).astype(np.int64)
        rest = rng.integers(0, self.size, n) + self.size * about_budget
        return about_budget, millions, rest

    def pieces(self, about_budget: npt.NDArray[np.bool_], millions: I64, rest: I64) -> list[Part]:
        number = int_text(millions)
        return [
            Take(self.heads, about_budget.astype(np.int64)),
            masked(number, about_budget),
            Take(self.rests, rest),
        ]


def _timeline(rng: np.random.Generator, world: World, release: np.ndarray) -> ObjArray:
    """Timeline documents shaped as the seed's (date, title, description, type): events dated
    around each release, those on or before ``as_of`` listed; None for a movie with none.

    Rows listing the same events share one layout of fixed width (dates are ten characters),
    so each group is filled as a byte matrix.
    """
    n = len(release)
    anchor = np.where(np.isnat(release), world.as_of.astype("datetime64[D]") + 400 * DAY, release)
    begins = anchor - rng.integers(300, 600, n) * DAY
    when = [
        begins - rng.integers(200, 500, n) * DAY,
        begins,
        begins + rng.integers(40, 120, n) * DAY,
        anchor - rng.integers(60, 150, n) * DAY,
        anchor - rng.integers(0, 30, n) * DAY,
        anchor,
    ]
    present = np.column_stack([(w <= world.as_of) & (rng.random(n) < 0.85) for w in when])
    dates = [w.astype("datetime64[D]").astype("S10").view(np.uint8).reshape(n, 10) for w in when]
    after_date = [
        json.dumps({"title": title, "description": description, "type": kind})[1:].encode()
        for title, kind, description in vocab.TIMELINE_EVENTS
    ]
    docs = np.full(n, None, dtype=object)
    layout = present @ (1 << np.arange(len(when)))
    for pattern in np.unique(layout[layout > 0]):
        rows = np.flatnonzero(layout == pattern)
        events = [j for j in range(len(when)) if pattern >> j & 1]
        segments: list[bytes | int] = [b"["]
        for k, j in enumerate(events):
            segments += [(b", " if k else b"") + b'{"date": "', j, b'", ' + after_date[j]]
        segments.append(b"]")
        width = sum(10 if isinstance(s, int) else len(s) for s in segments)
        matrix = np.empty((len(rows), width), dtype=np.uint8)
        at = 0
        for segment in segments:
            if isinstance(segment, int):
                matrix[:, at : at + 10] = dates[segment][rows]
                at += 10
            else:
                matrix[:, at : at + len(segment)] = np.frombuffer(segment, dtype=np.uint8)
                at += len(segment)
        docs[rows] = matrix.view(f"S{width}").ravel().astype(object)
    return docs


def people(world: World) -> Iterator[CopyRows]:
    # In the order of CREDIT_ROLES, which person kinds index.
    professions = [
        "an actor",
        "a director",
        "a writer",
        "a producer",
        "a composer",
        "a cinematographer",
        "an editor",
    ]
    countries = sorted({lang[1] for lang in vocab.LANGUAGES})
    # The middle of a biography: " is an actor from India, known for ", per (kind, country).
    middles = pool([f" is {p} from {c}, known for " for p in professions for c in countries])
    for number, idx in chunks(world.scale.people, ROW_CHUNK):
        rng = rng_for(world.seed, "people-table", number)
        n, ids = len(idx), idx + 1
        name = Take(FULL_NAMES, rng.integers(0, len(FULL_NAMES), n))
        middle = world.person_kind[idx] * len(countries) + rng.integers(0, len(countries), n)
        rows = CopyRows(n)
        rows.ints("id", ids)
        rows.code("external_id", "nm", ids, 8)
        rows.text("name", name)
        rows.text(
            "bio",
            name,
            Take(middles, middle),
            int_text(rng.integers(1, 60, n)),
            b" films.",
            null=rng.random(n) < 0.4,
        )
        rows.code(
            "image_url",
            f"{IMAGES}/people/",
            ids,
            len(str(world.scale.people)),
            ".jpg",
            null=rng.random(n) < 0.3,
        )
        yield rows


def movie_genres(world: World) -> Iterator[CopyRows]:
    for _, idx in chunks(world.scale.movies, ROW_CHUNK):
        picks = world.movie_genres[idx]
        movie, slot = np.nonzero(picks >= 0)
        rows = CopyRows(len(movie))
        rows.ints("movie_id", idx[movie] + 1)
        rows.ints("genre_id", picks[movie, slot] + 1)
        yield rows


# Crew credits per movie: (role, minimum, extra drawn as Poisson(mean), or probability).
_CREW = (("director", 1, 0.05), ("writer", 1, 0.45), ("producer", 1, 0.8))
_OPTIONAL_CREW = (("composer", 0.75), ("cinematographer", 0.75), ("editor", 0.65))


def movie_people(world: World) -> Iterator[CopyRows]:
    """Credits: a cast in billing order, then the crew. A person has one credit per movie."""
    prefixes = pool([""] + [f"{title} " for title in vocab.CHARACTER_ROLES])
    next_id = 1
    for rng, movie, person, role in credit_chunks(world):
        k = len(movie)
        actor = role == ACTOR
        starts = np.flatnonzero(np.r_[True, movie[1:] != movie[:-1]])
        billing = np.arange(k) - np.repeat(starts, np.diff(np.r_[starts, k])) + 1
        rows = CopyRows(k)
        rows.ints("id", np.arange(next_id, next_id + k))
        rows.ints("movie_id", movie)
        rows.ints("person_id", person)
        rows.text("role", Take(pool(CREDIT_ROLES), role))
        rows.text(
            "character_name",
            Take(prefixes, np.where(rng.random(k) < 0.3, rng.integers(1, len(prefixes), k), 0)),
            Take(FULL_NAMES, rng.integers(0, len(FULL_NAMES), k)),
            null=~actor,
        )
        rows.ints("billing_order", np.where(actor, billing, 0), null=~actor)
        next_id += k
        yield rows


def credit_chunks(world: World) -> Iterator[tuple[np.random.Generator, I64, I64, I64]]:
    """Per chunk of movies: its random stream, then the movie ids, person ids and role
    indices (into CREDIT_ROLES) of its credits, in billing order; the stream then draws the
    rest of ``movie_people``'s columns."""
    for number, idx in chunks(world.scale.movies, MOVIE_CHUNK):
        rng = rng_for(world.seed, "movie-people", number)
        n = len(idx)
        rel = np.minimum(world.movie_popularity[idx] * world.scale.movies, 5)
        counts = {"actor": 2 + rng.poisson(2.5 + 1.5 * rel)}
        for name, minimum, extra in _CREW:
            counts[name] = minimum + rng.poisson(extra, n)
        for name, chance in _OPTIONAL_CREW:
            counts[name] = (rng.random(n) < chance).astype(np.int64)
        movie_parts, person_parts, role_parts = [], [], []
        for name, count in counts.items():
            kind = CREDIT_ROLES.index(name)
            total = int(count.sum())
            movie_parts.append(np.repeat(idx + 1, count))
            person_parts.append(
                world.person_ids_by_kind[kind][sample(world.person_dist_by_kind[kind], rng, total)]
            )
            role_parts.append(np.full(total, kind))
        movie = np.concatenate(movie_parts)
        person = np.concatenate(person_parts)
        role = np.concatenate(role_parts)
        # Stable order: by movie, cast before crew, draw order within; then drop repeats of
        # (movie, person), keeping the first (so an actor-director stays in the cast).
        order = np.lexsort((np.arange(len(movie)), role, movie))
        movie, person, role = movie[order], person[order], role[order]
        _, first = np.unique(movie * (world.scale.people + 1) + person, return_index=True)
        keep = np.sort(first)
        yield rng, movie[keep], person[keep], role[keep]


def scenes(world: World) -> Iterator[CopyRows]:
    shortest, longest = 20, 900
    durations = pool([f"{s // 60}:{s % 60:02d}" for s in range(shortest, longest + 1)])
    titles = pool([f"The {noun}" for noun in vocab.SCENE_NOUNS])
    popular_from = np.quantile(world.scene_views, 0.9)
    for number, idx in chunks(world.scale.scenes, ROW_CHUNK):
        rng = rng_for(world.seed, "scenes-table", number)
        n, ids = len(idx), idx + 1
        movie = world.scene_movie[idx]
        views = world.scene_views[idx]
        scene_type = rng.integers(0, len(vocab.SCENE_TYPES), n)
        duration = np.clip(rng.lognormal(np.log(150), 0.6, n), shortest, longest).astype(np.int64)
        rows = CopyRows(n)
        rows.ints("id", ids)
        rows.code("external_id", "sc", ids, 8)
        rows.text("title", Take(titles, rng.integers(0, len(titles), n)))
        rows.text(
            "description",
            Take(pool(vocab.SCENE_DESCRIPTIONS), rng.integers(0, len(vocab.SCENE_DESCRIPTIONS), n)),
            null=rng.random(n) < 0.15,
        )
        rows.code("thumbnail_url", f"{IMAGES}/scenes/", ids, len(str(world.scale.scenes)), ".jpg")
        rows.text("duration_str", Take(durations, duration - shortest))
        rows.ints("duration_seconds", duration)
        rows.text("scene_type", Take(pool(vocab.SCENE_TYPES), scene_type))
        for column in ("director", "cinematographer"):
            name = rng.integers(0, len(FULL_NAMES), n)
            rows.text(column, Take(FULL_NAMES, name), null=rng.random(n) < 0.2)
        rows.ints("view_count", views)
        rows.ints("comment_count", (views * rng.uniform(0.001, 0.01, n)).astype(np.int64))
        rows.bools("is_popular", views >= popular_from)
        effects = scene_type == vocab.SCENE_TYPES.index("visual-effects")
        rows.bools("is_visual_treat", effects | (rng.random(n) < 0.12))
        release = world.movie_release[movie - 1].astype("datetime64[s]")
        rows.timestamps(
            "added_at",
            between(np.maximum(release, world.launch), np.full(n, world.as_of), rng.random(n)),
        )
        rows.ints("movie_id", movie)
        yield rows
