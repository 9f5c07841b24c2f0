"""Rows of ``pulses`` (short posts about movies and cricket) and ``user_follows``.

Pulses come in three waves relative to ``as_of``: a steady stream over two years, a burst in
the final week carrying the burst tags, and a wave a month or two earlier carrying tags that
have faded since. The seeder's ``refresh_trending_topics``, counting its windows back from
``as_of``, then ranks the burst tags on top of the 7-day window.

Pulses are the widest rows generated, so most of a row is built from pools prepared once
(what a pulse is about: one piece per movie, match or general post, covering six columns)
or once per chunk (hashtag lists, reaction counts, media documents).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from iwm_lab.demodata import tallies, vocab
from iwm_lab.demodata.activity import MEDIA, USER_CHUNK, file_names
from iwm_lab.demodata.catalog import IMAGES, ROW_CHUNK, chunks
from iwm_lab.demodata.copytext import CopyRows, ObjArray, Take, pool
from iwm_lab.demodata.world import SECOND, World, between, rng_for, sample

STEADY, BURST, FADING = 0, 1, 2
MOVIE, CRICKET, UNLINKED = 0, 1, 2
_DAY_S = 86_400
# Spellings of one tag: as listed, lower case, lower case with '#', without '#'.
_SPELLING_WEIGHTS = (0.55, 0.2, 0.15, 0.1)
# Match numbers per cricket match; random hashtag lists per kind of pulse and chunk.
_MATCH_NUMBERS = 40
_TAILS = 256
_FAMILIES = {
    "evergreen": vocab.EVERGREEN_TAGS,
    "burst": vocab.BURST_TAGS,
    "cricket_burst": vocab.CRICKET_BURST_TAGS,
    "fading": vocab.FADING_TAGS,
    "cricket_fading": vocab.CRICKET_FADING_TAGS,
    "cricket": vocab.CRICKET_TAGS,
}
_NULL = "\\N"
# Adjacent columns of pulses rendered as one piece per target (see _targets).
_ABOUT_COLUMNS = (
    "content_text",
    "linked_type",
    "linked_external_id",
    "linked_title",
    "linked_poster_url",
    "linked_movie_id",
)


def _spellings(tag: str) -> list[str]:
    bare = tag.lstrip("#")
    return [tag, bare.lower(), f"#{bare.lower()}", bare]


def tag_spellings(world: World) -> list[str]:
    """Every hashtag as pulses may spell it: each movie's own tag, and each spelling of the
    tags that may follow it."""
    spelled = {s for tags in _FAMILIES.values() for tag in tags for s in _spellings(tag)}
    return sorted(spelled | {tag.decode() for tag in world.movie_tag})


def _reactions(rng: np.random.Generator, size: int = 4096) -> tuple[ObjArray, np.ndarray]:
    """A pool of reactions_json documents and their totals."""
    totals = np.minimum(rng.lognormal(1.5, 1.5, size), 100_000).astype(np.int64)
    counts = rng.multinomial(totals, [0.55, 0.2, 0.1, 0.1, 0.05])
    docs = []
    for row in counts:
        pairs = (f'"{name}": {c}' for name, c in zip(vocab.REACTIONS, row, strict=True))
        docs.append("{" + ", ".join(pairs) + "}")
    return pool(docs), totals


def _targets(world: World) -> tuple[ObjArray, int, int]:
    """What a pulse is about, as one piece per target holding the end of ``content_text``
    and the ``linked_*`` columns: every movie, then (match, match number) pairs, then the
    general posts. Returns the pool and where the cricket and general entries start."""
    entries = []
    for i, (title, external) in enumerate(
        zip(world.movie_title, world.movie_external_id, strict=True)
    ):
        name = title.decode()
        ext = _NULL if external is None else external.decode()
        poster = f"{IMAGES}/posters/{i + 1}.jpg"
        entries.append(f"{name}.\tmovie\t{ext}\t{name}\t{poster}\t{i + 1}")
    cricket = len(entries)
    for match in vocab.CRICKET_MATCHES:
        for number in range(1, _MATCH_NUMBERS + 1):
            ext = f"cricket_match_{number}"
            entries.append(f"{match}.\tcricket\t{ext}\t{match}\t{_NULL}\t{_NULL}")
    general = len(entries)
    entries += [
        f"{line}\t{_NULL}\t{_NULL}\t{_NULL}\t{_NULL}\t{_NULL}" for line in vocab.PULSE_SENTENCES
    ]
    return pool(entries), cricket, general


def _tag_tails(rng: np.random.Generator) -> tuple[ObjArray, np.ndarray, list[list[str]]]:
    """Hashtag lists to follow an optional movie tag: ``_TAILS`` random ones per (wave,
    cricket or not), each without and with a leading comma, closed by ']'; whether each
    holds any tag; and each one's spellings. The wave's tag comes first, then up to two
    everyday tags."""
    texts, tagged, spellings = [], [], []
    for wave in (STEADY, BURST, FADING):
        for cricket in (False, True):
            wave_tags: tuple[str, ...] = ()
            if wave != STEADY:
                name = ("cricket_" if cricket else "") + ("burst" if wave == BURST else "fading")
                wave_tags = _FAMILIES[name]
            everyday = _FAMILIES["cricket" if cricket else "evergreen"]
            for _ in range(_TAILS):
                picks = [wave_tags[rng.integers(len(wave_tags))]] if wave_tags else []
                first = int(rng.integers(len(everyday)))
                count = int(rng.choice(3, p=[0.35, 0.4, 0.25]))
                picks += [everyday[(first + j) % len(everyday)] for j in range(count)]
                spelled = [_spellings(t)[rng.choice(4, p=_SPELLING_WEIGHTS)] for t in picks]
                body = ", ".join(f'"{s}"' for s in spelled) + "]"
                texts += [body, ", " + body if spelled else body]
                tagged += [bool(spelled)] * 2
                spellings += [spelled, spelled]
    return pool(texts), np.array(tagged), spellings


def pulses(world: World) -> Iterator[CopyRows]:
    # Pools shared by all chunks: hashtag lists, reaction counts, media documents.
    rng = rng_for(world.seed, "pulse-pools")
    tails, tagged, spellings = _tag_tails(rng)
    no_tail = len(tails)
    tails = np.append(tails, np.array([b""], dtype=object))
    counter = tallies.pulse_counter(world, [*spellings, []])
    reactions, totals = _reactions(rng)
    media = pool(
        [
            f'[{{"type": "image", "url": "{MEDIA}/pulses/{f.decode()}.jpg"}}]'
            for f in file_names(rng)
        ]
        + [_NULL]
    )
    targets, cricket_at, general_at = _targets(world)
    # hashtags begins with the movie's own tag, a bare '[' or NULL (then the tail is empty).
    heads = pool([f'["{t.decode()}"' for t in world.movie_tag] + ["[", _NULL])
    bare, null_head = len(heads) - 2, len(heads) - 1
    # Beginnings of content_text: before a movie's title, a match, a general line.
    starts = pool(
        [f"{s} {o} " for s in vocab.PULSE_SENTENCES for o in vocab.PULSE_OPENINGS]
        + [f"{s} " for s in vocab.CRICKET_SENTENCES]
        + [f"{s} " for s in vocab.PULSE_SENTENCES]
    )
    movie_starts = len(vocab.PULSE_SENTENCES) * len(vocab.PULSE_OPENINGS)
    start_base = np.array([0, movie_starts, movie_starts + len(vocab.CRICKET_SENTENCES)])
    start_size = np.array([movie_starts, len(vocab.CRICKET_SENTENCES), len(vocab.PULSE_SENTENCES)])
    total = world.scale.pulses
    for number, start in enumerate(range(0, total, ROW_CHUNK)):
        rng = rng_for(world.seed, "pulses", number)
        n = min(ROW_CHUNK, total - start)
        ids = np.arange(start + 1, start + n + 1)
        wave, created = pulse_times(world, rng, n)
        link = rng.choice(3, size=n, p=[0.65, 0.12, 0.23])
        is_movie, is_cricket = link == MOVIE, link == CRICKET
        movie = sample(world.pulse_dist, rng, n)
        opening = rng.integers(0, 1 << 20, n) % start_size[link]
        # A general post's second line differs from its first.
        lines = len(vocab.PULSE_SENTENCES)
        second = (opening + rng.integers(1, lines, n)) % lines
        target = np.select(
            [is_movie, is_cricket],
            [movie, cricket_at + rng.integers(0, general_at - cricket_at, n)],
            general_at + second,
        )
        pick = rng.integers(0, len(totals), n)
        rows = CopyRows(n)
        rows.ints("id", ids)
        rows.code("external_id", "pl", ids, 10)
        rows.ints("user_id", sample(world.activity_dist, rng, n) + 1)
        rows.ints("reactions_total", totals[pick])
        rows.ints("comments_count", rng.poisson(totals[pick] * 0.08))
        rows.ints("shares_count", rng.poisson(totals[pick] * 0.03))
        rows.timestamps("created_at", created)
        rows.text(
            _ABOUT_COLUMNS,
            Take(starts, start_base[link] + opening),
            Take(targets, target),
        )
        movie_tag = is_movie & (rng.random(n) < 0.45)
        tail = ((wave * 2 + is_cricket) * _TAILS + rng.integers(0, _TAILS, n)) * 2 + movie_tag
        # Posts without tags store NULL or an empty array, as real clients do.
        untagged = ~movie_tag & ~tagged[tail] & (rng.random(n) < 0.6)
        head = np.where(movie_tag, movie, np.where(untagged, null_head, bare))
        tail = np.where(untagged, no_tail, tail)
        rows.text("hashtags", Take(heads, head), Take(tails, tail))
        if counter is not None:
            counter.add(created, link, np.where(movie_tag, movie, -1), tail, untagged)
        picture = rng.integers(0, len(media) - 1, n)
        without = rng.random(n) < 0.85
        rows.text("content_media", Take(media, np.where(without, len(media) - 1, picture)))
        rows.text("reactions_json", Take(reactions, pick))
        edited = np.minimum(created + rng.integers(60, 7200, n) * SECOND, world.as_of)
        rows.timestamps("edited_at", edited, null=rng.random(n) >= 0.08)
        yield rows


def pulse_times(world: World, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The first draws of a chunk of pulses: each one's wave and moment (the moderation
    queue replays them to date reports after the pulse they are about)."""
    wave = rng.choice(3, size=n, p=[0.8, 0.12, 0.08])
    age = np.select(
        [wave == STEADY, wave == BURST],
        [730 * _DAY_S * rng.random(n) ** 1.6, 7 * _DAY_S * rng.random(n)],
        np.clip(rng.normal(40, 9, n), 18, 75) * _DAY_S,
    ).astype(np.int64)
    return wave, world.as_of - age * SECOND


def user_follows(world: World) -> Iterator[CopyRows]:
    """A heavy-tailed follow graph: out-degrees are log-normal, and whom people follow is a
    power law over users, so a few accounts gather most followers. No self-follows, each
    pair once."""
    next_id = 1
    mean = world.scale.follows_per_user
    for number, idx in chunks(world.scale.users, USER_CHUNK):
        rng = rng_for(world.seed, "user-follows", number)
        degree = np.minimum(rng.lognormal(np.log(mean) - 0.5, 1.0, len(idx)), 2000)
        follower = np.repeat(idx, degree.astype(np.int64))
        following = sample(world.influence_dist, rng, len(follower))
        keep = follower != following
        follower, following = follower[keep], following[keep]
        _, first = np.unique(follower * world.scale.users + following, return_index=True)
        follower, following = follower[first], following[first]
        k = len(follower)
        earliest = np.maximum(world.user_created[follower], world.user_created[following])
        rows = CopyRows(k)
        rows.ints("id", np.arange(next_id, next_id + k))
        rows.ints("follower_id", follower + 1)
        rows.ints("following_id", following + 1)
        rows.timestamps("created_at", between(earliest, np.full(k, world.as_of), rng.random(k)))
        next_id += k
        yield rows
