"""Rows of the awards and festivals tables: bodies, ceremonies, categories, nominations,
festivals, their editions and selections.

Festivals come first: an edition selects films that open around it, and gives its
competition's prizes to the ones critics like best. Each award ceremony then nominates, per
category, films of its award year released on or before the ceremony (people through their
credits in the category's role), favouring what its body favours: critics' scores for
critics' circles, users' scores and popularity for audience awards, a mix for academies,
and a festival run, a prize most. Judging differs by body, so the same year's winners
differ. The whole plan is built once (:func:`plan`); each table's generator renders its
part.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from iwm_lab.demodata import vocab
from iwm_lab.demodata.copytext import CopyRows, Take, pool
from iwm_lab.demodata.facts import (
    added,
    cached,
    credits,
    day_start,
    movie_facts,
    released,
    sliced,
)
from iwm_lab.demodata.world import DAY, F64, I64, SECOND, World, rng_for
from iwm_lab.models.values import CREDIT_ROLES

# name, short name, type, country, month of the ceremony (13+ = the next year's), founded,
# judging weights on (critics, users, popularity).
BODIES = (
    ("Academy of Film Arts and Sciences", "AFAS", "academy", "US", 15, 1929, (2.0, 0.0, 0.5)),
    ("British Film Academy", "BFA", "academy", "UK", 14, 1949, (2.0, 0.0, 0.3)),
    ("Screen Performers Guild", "SPG", "guild", "US", 13, 1995, (1.5, 0.3, 0.6)),
    ("Directors Guild of Cinema", "DGC", "guild", "US", 14, 1950, (2.0, 0.0, 0.3)),
    ("National Circle of Film Critics", "NCFC", "critics", "US", 12, 1966, (2.5, -0.3, -0.2)),
    ("London Critics' Circle", "LCC", "critics", "UK", 13, 1980, (2.5, -0.2, 0.0)),
    ("International Film Press Association", "IFPA", "press", "US", 13, 1944, (1.2, 0.3, 1.0)),
    ("Cine Stars Awards", "CSA", "press", "IN", 14, 1954, (0.4, 0.8, 0.8)),
    ("Audience Choice Awards", "ACA", "audience", "US", 15, 1975, (0.0, 1.5, 1.5)),
    ("Asia Pacific Screen Academy", "APSA", "academy", "AU", 11, 2007, (2.0, 0.0, 0.0)),
)
# name, credit role (None: the film itself), which bodies give it (by short name; None = all).
CATEGORIES = (
    ("Best Picture", None, None),
    ("Best Director", "director", ("AFAS", "BFA", "DGC", "NCFC", "LCC", "IFPA", "CSA", "APSA")),
    ("Best Actor", "actor", ("AFAS", "BFA", "SPG", "NCFC", "LCC", "IFPA", "CSA", "ACA", "APSA")),
    ("Best Supporting Performance", "actor", ("AFAS", "BFA", "SPG", "IFPA", "CSA")),
    ("Best Screenplay", "writer", ("AFAS", "BFA", "NCFC", "LCC", "IFPA", "APSA")),
    ("Best Original Score", "composer", ("AFAS", "BFA", "IFPA", "CSA")),
    ("Best Cinematography", "cinematographer", ("AFAS", "BFA", "NCFC", "APSA")),
    ("Best Editing", "editor", ("AFAS", "BFA")),
    ("Best Producer", "producer", ("AFAS", "CSA")),
    ("Outstanding Ensemble", None, ("SPG",)),
    ("Audience Favourite", None, ("ACA", "CSA")),
)
# name, city, country, month it opens, founded.
FESTIVALS = (
    ("Lido International Film Festival", "Venice", "IT", 8, 1932),
    ("Croisette Film Festival", "Cannes", "FR", 5, 1946),
    ("Spree International Film Festival", "Berlin", "DE", 2, 1951),
    ("Lakeshore International Film Festival", "Toronto", "CA", 9, 1976),
    ("Mountain Independent Film Festival", "Park City", "US", 1, 1978),
    ("Harbour Film Festival", "Mumbai", "IN", 10, 1997),
    ("Haeundae International Film Festival", "Busan", "KR", 10, 1996),
    ("Canal Film Festival", "Amsterdam", "NL", 11, 1988),
)
SECTIONS = ("competition", "out-of-competition", "sidebar", "special-screening", "retrospective")
SECTION_NAMES = ("Main Competition", "Gala Presentations", "New Directions", "Midnight", "Classics")
PREMIERES = ("world", "international", "regional", "national")
PRIZES = ("Golden Lion of the Lido", "Grand Jury Prize", "Best Director", "Best Screenplay")
AUDIENCE_PRIZE = len(PRIZES)
# Ceremonies and editions reach this many years back from as_of, by scale.
YEARS_BACK = {"tiny": 10, "small": 30, "large": 70}


@dataclass
class Plan:
    # festival editions
    edition_festival: I64
    edition_year: I64
    edition_start: np.ndarray  # datetime64[D]
    edition_end: np.ndarray
    # festival selections
    selection_edition: I64
    selection_movie: I64
    selection_section: I64
    selection_premiere: I64
    selection_prize: I64  # -1 none, else PRIZES index (AUDIENCE_PRIZE: audience award)
    # ceremonies
    ceremony_body: I64
    ceremony_year: I64
    ceremony_date: np.ndarray  # datetime64[D]
    # categories
    category_body: I64
    category_kind: I64  # index into CATEGORIES
    # nominations
    nomination_ceremony: I64
    nomination_category: I64  # 0-based category index
    nomination_movie: I64  # id
    nomination_person: I64  # id, 0 = none
    nomination_won: np.ndarray


def _z(values: F64) -> F64:
    filled = np.where(np.isnan(values), np.nanmean(values) - np.nanstd(values), values)
    out: F64 = (filled - filled.mean()) / max(float(filled.std()), 1e-9)
    return out


def plan(world: World) -> Plan:
    """The awards and festivals of ``world`` (built once)."""
    return cached(world, "awards", lambda: _build(world))


def _build(world: World) -> Plan:
    rng = rng_for(world.seed, "awards-plan")
    facts = movie_facts(world)
    n = world.scale.movies
    today = world.as_of.astype("datetime64[D]")
    last = int(str(today)[:4])
    first = last - YEARS_BACK.get(world.scale.name, 30) + 1
    out = released(world)
    release = world.movie_release
    critics, users = _z(facts.critics), _z(facts.siddu)
    popular = _z(np.log(world.movie_popularity))
    # Festivals: editions, then selections from films opening around each.
    ed_f, ed_y, ed_s, ed_e = [], [], [], []
    for f, (_, _, _, month, founded) in enumerate(FESTIVALS):
        years = np.arange(max(first, founded), last + 1)
        starts = (
            (years - 1970).astype("datetime64[Y]").astype("datetime64[M]")
            + (month - 1) * np.timedelta64(1, "M")
        ).astype("datetime64[D]") + rng.integers(0, 20, len(years)) * DAY
        ends = starts + rng.integers(8, 12, len(years)) * DAY
        keep = ends <= today
        ed_f += [f] * int(keep.sum())
        ed_y += list(years[keep])
        ed_s.append(starts[keep])
        ed_e.append(ends[keep])
    edition_start, edition_end = np.concatenate(ed_s), np.concatenate(ed_e)
    order_by_release = np.argsort(release.astype("datetime64[D]").astype(np.int64))
    sorted_release = release[order_by_release]
    sel: list[list[np.ndarray]] = [[], [], [], [], []]
    taste = critics + 0.3 * popular
    for e, start in enumerate(edition_start):
        # Films opening from a month before to ten months after the festival.
        lo, hi = np.searchsorted(sorted_release, [start - 30 * DAY, start + 300 * DAY])
        pool_ = order_by_release[lo:hi]
        pool_ = pool_[out[pool_]]
        if len(pool_) == 0:
            continue
        # At least four films where there are (small catalogues): a festival of one film has
        # no sections or prizes to compare.
        k = int(np.clip(round(len(pool_) * 0.05), min(len(pool_), 4), 45))
        keys = 1.5 * taste[pool_] + rng.gumbel(size=len(pool_))
        chosen = pool_[np.argsort(-keys)[:k]]
        section = rng.choice(len(SECTIONS), size=k, p=[0.4, 0.15, 0.3, 0.1, 0.05])
        section[0] = 0  # the favourite is in competition
        premiere = np.where(release[chosen] >= start, 0, rng.integers(1, 4, k))
        prize = np.full(k, -1)
        in_comp = np.flatnonzero(section == 0)
        winners = in_comp[np.argsort(-(taste[chosen[in_comp]] + rng.normal(0, 0.3, len(in_comp))))]
        prize[winners[: len(PRIZES)]] = np.arange(min(len(PRIZES), len(winners)))
        fan = int(np.argmax(users[chosen] + popular[chosen]))
        if prize[fan] < 0:
            prize[fan] = AUDIENCE_PRIZE
        for part, values in zip(
            sel, (np.full(k, e), chosen + 1, section, premiere, prize), strict=True
        ):
            part.append(values)
    selections = [np.concatenate(p) if p else np.zeros(0, np.int64) for p in sel]
    # The festival run each film had, and when: the boost a ceremony after it gives.
    boost = np.zeros(n)
    boost_from = np.full(n, np.datetime64("2200-01-01"), dtype="datetime64[D]")
    s_movie = selections[1] - 1
    s_start = edition_start[selections[0]] if len(s_movie) else edition_start[:0]
    lift = np.where(selections[4] >= 0, 1.6, 0.7)
    np.maximum.at(boost, s_movie, lift)
    np.minimum.at(boost_from, s_movie, s_start)
    # Categories.
    cat_body, cat_kind = [], []
    for b, body in enumerate(BODIES):
        for c, (_, _, givers) in enumerate(CATEGORIES):
            if givers is None or body[1] in givers:
                cat_body.append(b)
                cat_kind.append(c)
    category_body, category_kind = np.array(cat_body), np.array(cat_kind)
    # Ceremonies.
    cer_b, cer_y, cer_d = [], [], []
    for b, (_, _, _, _, month, founded, _) in enumerate(BODIES):
        years = np.arange(max(first, founded), last + 1)
        months = (years - 1970).astype("datetime64[Y]").astype("datetime64[M]") + (month - 1) * (
            np.timedelta64(1, "M")
        )
        dates = months.astype("datetime64[D]") + rng.integers(5, 25, len(years)) * DAY
        keep = dates <= today
        cer_b += [b] * int(keep.sum())
        cer_y += list(years[keep])
        cer_d.append(dates[keep])
    ceremony_body, ceremony_year = np.array(cer_b), np.array(cer_y)
    ceremony_date = np.concatenate(cer_d)
    # Nominations: per ceremony and category, the top of a noisy ranking by the body's taste.
    release_year = world.movie_year
    credit = credits(world)
    nom: list[list[np.ndarray]] = [[], [], [], [], []]
    for c_id, (b, year, date) in enumerate(
        zip(ceremony_body, ceremony_year, ceremony_date, strict=True)
    ):
        wc, wu, wp = BODIES[b][6]
        pool_ = np.flatnonzero(out & (release_year == year) & (release <= date))
        if len(pool_) == 0:
            continue
        taste_b = wc * critics[pool_] + wu * users[pool_] + wp * popular[pool_]
        taste_b += np.where(boost_from[pool_] < date, boost[pool_], 0.0)
        if BODIES[b][3] == "IN":
            taste_b += 2.0 * (world.movie_lang[pool_] == _HINDI)
        for category in np.flatnonzero(category_body == b):
            role_name = CATEGORIES[category_kind[category]][1]
            candidates, scores = pool_, taste_b
            if role_name is not None:
                role = CREDIT_ROLES.index(role_name)
                has = credit.count(role, candidates + 1) > 0
                candidates, scores = candidates[has], scores[has]
            if len(candidates) == 0:
                continue
            # Three nominees at least where there are: a category of one nominee has no loser
            # to compare its winner with.
            k = int(np.clip(len(candidates) // 6, min(len(candidates), 3), 5))
            keys = 3.0 * scores + rng.gumbel(size=len(candidates))
            top = np.argsort(-keys)[:k]
            movie = candidates[top] + 1
            person = (
                np.zeros(k, dtype=np.int64)
                if role_name is None
                else credit.pick(CREDIT_ROLES.index(role_name), movie, rng.random(k))
            )
            won = np.zeros(k, dtype=bool)
            won[int(np.argmax(scores[top] + rng.normal(0, 0.4, k)))] = True
            for part, values in zip(
                nom, (np.full(k, c_id), np.full(k, category), movie, person, won), strict=True
            ):
                part.append(values)
    noms = [np.concatenate(p) for p in nom]
    return Plan(
        edition_festival=np.array(ed_f, dtype=np.int64),
        edition_year=np.array(ed_y, dtype=np.int64),
        edition_start=edition_start,
        edition_end=edition_end,
        selection_edition=selections[0],
        selection_movie=selections[1],
        selection_section=selections[2],
        selection_premiere=selections[3],
        selection_prize=selections[4],
        ceremony_body=ceremony_body,
        ceremony_year=ceremony_year,
        ceremony_date=ceremony_date,
        category_body=category_body,
        category_kind=category_kind,
        nomination_ceremony=noms[0],
        nomination_category=noms[1],
        nomination_movie=noms[2],
        nomination_person=noms[3],
        nomination_won=noms[4].astype(bool),
    )


_HINDI = next(i for i, lang in enumerate(vocab.LANGUAGES) if lang[0] == "Hindi")


def award_bodies(world: World) -> Iterator[CopyRows]:
    n = len(BODIES)
    rows = CopyRows(n)
    rows.ints("id", np.arange(1, n + 1))
    rows.text("external_id", pool([f"ab-{b[1].lower()}" for b in BODIES]))
    rows.text("name", pool([b[0] for b in BODIES]))
    rows.text("short_name", pool([b[1] for b in BODIES]))
    rows.text("body_type", pool([b[2] for b in BODIES]))
    rows.text("country", pool([b[3] for b in BODIES]))
    rows.text("website_url", pool([f"https://www.{b[1].lower()}.example" for b in BODIES]))
    rows.timestamps("created_at", np.full(n, world.launch))
    yield rows


def award_ceremonies(world: World) -> Iterator[CopyRows]:
    p = plan(world)
    n = len(p.ceremony_body)
    rng = rng_for(world.seed, "award-ceremonies")
    founded = np.array([b[5] for b in BODIES])
    rows = CopyRows(n)
    ids = np.arange(1, n + 1)
    rows.ints("id", ids)
    rows.code("external_id", "ac", ids, 6)
    rows.ints("award_body_id", p.ceremony_body + 1)
    rows.ints("edition_number", p.ceremony_year - founded[p.ceremony_body] + 1)
    rows.ints("year", p.ceremony_year)
    rows.timestamps("ceremony_date", day_start(p.ceremony_date))
    cities = pool(["Los Angeles", "London", "New York", "Mumbai", "Sydney", "Toronto"])
    rows.text("location", Take(cities, rng.integers(0, 6, n)), null=rng.random(n) < 0.1)
    rows.timestamps("created_at", added(world, day_start(p.ceremony_date - 60 * DAY), rng))
    yield rows


def award_categories(world: World) -> Iterator[CopyRows]:
    p = plan(world)
    n = len(p.category_body)
    rows = CopyRows(n)
    ids = np.arange(1, n + 1)
    rows.ints("id", ids)
    rows.code("external_id", "acat", ids, 4)
    rows.ints("award_body_id", p.category_body + 1)
    rows.text("name", Take(pool([c[0] for c in CATEGORIES]), p.category_kind))
    person = np.array([c[1] is not None for c in CATEGORIES])[p.category_kind]
    rows.text("subject", Take(pool(["movie", "person"]), person.astype(np.int64)))
    roles = pool([c[1] or "" for c in CATEGORIES])
    rows.text("credit_role", Take(roles, p.category_kind), null=~person)
    rows.timestamps("created_at", np.full(n, world.launch))
    yield rows


def award_nominations(world: World) -> Iterator[CopyRows]:
    p = plan(world)
    total = len(p.nomination_movie)
    rng = rng_for(world.seed, "award-nominations")
    announced = day_start(p.ceremony_date[p.nomination_ceremony] - 40 * DAY)
    created = added(world, announced + rng.integers(9, 12, total) * 3600 * SECOND, rng)
    details = pool(["", "Shared nomination", "Posthumous", "Debut"])
    detail = np.where(rng.random(total) < 0.9, 0, rng.integers(1, 4, total))
    for part in sliced(total):
        k = part.stop - part.start
        rows = CopyRows(k)
        ids = np.arange(part.start + 1, part.stop + 1)
        rows.ints("id", ids)
        rows.code("external_id", "an", ids, 8)
        rows.ints("ceremony_id", p.nomination_ceremony[part] + 1)
        rows.ints("category_id", p.nomination_category[part] + 1)
        rows.ints("movie_id", p.nomination_movie[part])
        person = p.nomination_person[part]
        rows.ints("person_id", person, null=person == 0)
        rows.bools("won", p.nomination_won[part])
        rows.text("detail", Take(details, detail[part]), null=detail[part] == 0)
        rows.timestamps("created_at", created[part])
        yield rows


def festivals(world: World) -> Iterator[CopyRows]:
    n = len(FESTIVALS)
    rows = CopyRows(n)
    rows.ints("id", np.arange(1, n + 1))
    rows.text("external_id", pool([f"fest-{f[1].lower().replace(' ', '-')}" for f in FESTIVALS]))
    rows.text("name", pool([f[0] for f in FESTIVALS]))
    rows.text("city", pool([f[1] for f in FESTIVALS]))
    rows.text("country", pool([f[2] for f in FESTIVALS]))
    rows.ints("founded_year", np.array([f[4] for f in FESTIVALS]))
    slugs = [f[0].split()[0].lower() for f in FESTIVALS]
    rows.text("website_url", pool([f"https://www.{s}-festival.example" for s in slugs]))
    rows.timestamps("created_at", np.full(n, world.launch))
    yield rows


def festival_editions(world: World) -> Iterator[CopyRows]:
    p = plan(world)
    n = len(p.edition_festival)
    rng = rng_for(world.seed, "festival-editions")
    founded = np.array([f[4] for f in FESTIVALS])
    rows = CopyRows(n)
    ids = np.arange(1, n + 1)
    rows.ints("id", ids)
    rows.code("external_id", "fe", ids, 6)
    rows.ints("festival_id", p.edition_festival + 1)
    rows.ints("year", p.edition_year)
    rows.ints("edition_number", p.edition_year - founded[p.edition_festival] + 1)
    rows.timestamps("starts_on", day_start(p.edition_start))
    rows.timestamps("ends_on", day_start(p.edition_end))
    rows.timestamps("created_at", added(world, day_start(p.edition_start - 90 * DAY), rng))
    yield rows


def festival_selections(world: World) -> Iterator[CopyRows]:
    p = plan(world)
    n = len(p.selection_movie)
    rng = rng_for(world.seed, "festival-selections")
    rows = CopyRows(n)
    ids = np.arange(1, n + 1)
    rows.ints("id", ids)
    rows.code("external_id", "fs", ids, 8)
    rows.ints("edition_id", p.selection_edition + 1)
    rows.ints("movie_id", p.selection_movie)
    rows.text("section", Take(pool(SECTIONS), p.selection_section))
    rows.text("section_name", Take(pool(SECTION_NAMES), p.selection_section))
    rows.text("premiere", Take(pool(PREMIERES), p.selection_premiere))
    prizes = pool([*PRIZES, "Audience Award"])
    prize = p.selection_prize
    rows.text("prize", Take(prizes, np.maximum(prize, 0)), null=prize < 0)
    announced = day_start(p.edition_start[p.selection_edition] - 30 * DAY)
    rows.timestamps("created_at", added(world, announced, rng))
    yield rows
