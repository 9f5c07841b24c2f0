"""Rows of the talent hub: ``talent_profiles`` (people of the catalogue, named as in
``people``, and users, named as in ``users``; a few people claimed by a user),
``casting_calls`` and ``casting_applications``.

A call's applicants mostly work in the role it casts; what became of them follows the
call: a filled call accepted one of them, a closed one turned most down, an open one is
still sorting them. Open and draft calls have their deadline ahead of the data's end (a
plan, like an upcoming film's release date); everything that happened is dated before it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from iwm_lab.demodata import vocab
from iwm_lab.demodata.catalog import FULL_NAMES
from iwm_lab.demodata.copytext import CopyRows, Take, pool
from iwm_lab.demodata.facts import cached, person_names, sliced, spread, user_names
from iwm_lab.demodata.world import DAY, I64, RELEASED, World, rng_for
from iwm_lab.models.values import CREDIT_ROLES

CALL_STATUSES = ("draft", "open", "closed", "filled", "cancelled")
APPLICATION_STATUSES = (
    "submitted",
    "shortlisted",
    "auditioned",
    "offered",
    "accepted",
    "rejected",
    "withdrawn",
)
DRAFT, OPEN, CLOSED, FILLED, CANCELLED = range(5)
ROLE_TITLES = pool([f"{r.capitalize()} wanted" for r in CREDIT_ROLES])
PROJECTS = pool(["Untitled feature", "Short film", "Web series", "Student film", "Documentary"])


@dataclass
class Talent:
    person: I64  # id, 0 = none
    user: I64  # id, 0 = none
    role: I64
    region: I64
    created: np.ndarray
    # calls
    call_role: I64
    call_movie: I64  # id, 0 = none
    call_poster: I64  # user id
    call_status: I64
    call_created: np.ndarray
    call_deadline: np.ndarray
    # applications
    app_call: I64
    app_profile: I64
    app_status: I64
    app_created: np.ndarray


def plan(world: World) -> Talent:
    return cached(world, "talent", lambda: _build(world))


def _build(world: World) -> Talent:
    rng = rng_for(world.seed, "talent-plan")
    people = max(30, world.scale.people // 10)
    users = max(20, world.scale.users // 50)
    person = np.sort(rng.permutation(world.scale.people)[:people]) + 1
    account = rng.permutation(world.scale.users)[: users + people // 20] + 1
    claimed = np.zeros(people, dtype=np.int64)
    claimed[rng.permutation(people)[: people // 20]] = account[users:]
    user = np.r_[claimed, account[:users]]
    person = np.r_[person, np.zeros(users, dtype=np.int64)]
    n = len(person)
    actor = CREDIT_ROLES.index("actor")
    own_role = rng.choice(len(CREDIT_ROLES), size=n, p=[0.55, 0.1, 0.12, 0.08, 0.05, 0.05, 0.05])
    role = np.where(person > 0, world.person_kind[np.maximum(person - 1, 0)], own_role)
    region = rng.integers(0, len(vocab.REGIONS), n)
    joined = np.where(user > 0, world.user_created[np.maximum(user - 1, 0)], world.launch)
    created = spread(joined, np.full(n, world.as_of), rng.random(n) ** 1.5)
    # Casting calls, posted by users with a profile, some for a film in the making.
    c = max(10, n // 4)
    posters = user[user > 0]
    poster = posters[rng.integers(0, len(posters), c)]
    coming = np.flatnonzero(world.movie_status != RELEASED)
    movie = np.where(rng.random(c) < 0.4, coming[rng.integers(0, max(len(coming), 1), c)] + 1, 0)
    movie = np.where(len(coming) > 0, movie, 0)
    call_role = np.where(rng.random(c) < 0.7, actor, rng.integers(0, len(CREDIT_ROLES), c))
    start = np.maximum(world.user_created[poster - 1], world.launch)
    call_created = spread(start, np.full(c, world.as_of), rng.random(c) ** 0.5)
    deadline = call_created + rng.integers(14, 60, c) * DAY
    past = deadline <= world.as_of
    status = np.where(
        past,
        rng.choice([CLOSED, FILLED, CANCELLED], size=c, p=[0.45, 0.45, 0.1]),
        rng.choice([DRAFT, OPEN], size=c, p=[0.1, 0.9]),
    )
    # Applications: mostly from profiles in the call's role.
    k = np.where(status == DRAFT, 0, rng.poisson(4, c) + (status == FILLED))
    app_call = np.repeat(np.arange(c), k)
    by_role = np.argsort(role, kind="stable")
    lo = np.searchsorted(role[by_role], call_role[app_call], "left")
    hi = np.searchsorted(role[by_role], call_role[app_call], "right")
    same = by_role[np.minimum(lo + (rng.random(len(app_call)) * (hi - lo)).astype(np.int64), n - 1)]
    anyone = rng.integers(0, n, len(app_call))
    app_profile = np.where((rng.random(len(app_call)) < 0.75) & (hi > lo), same, anyone)
    _, first = np.unique(app_call * n + app_profile, return_index=True)
    app_call, app_profile = app_call[first], app_profile[first]
    a = len(app_call)
    call_status = status[app_call]
    app_status = np.select(
        [call_status == OPEN, call_status == CANCELLED],
        [rng.choice(4, size=a, p=[0.55, 0.25, 0.15, 0.05]), np.full(a, 6)],
        np.where(rng.random(a) < 0.85, 5, 6),
    )
    # A filled call accepted its first applicant.
    head = np.r_[True, app_call[1:] != app_call[:-1]]
    app_status[head & (call_status == FILLED)] = 4
    opened = np.maximum(call_created[app_call], created[app_profile])
    closes = np.minimum(deadline[app_call], world.as_of)
    app_created = spread(opened, closes, rng.random(a))
    return Talent(
        person=person,
        user=user,
        role=role,
        region=region,
        created=created,
        call_role=call_role,
        call_movie=movie,
        call_poster=poster,
        call_status=status,
        call_created=call_created,
        call_deadline=deadline,
        app_call=app_call,
        app_profile=app_profile,
        app_status=app_status,
        app_created=app_created,
    )


def talent_profiles(world: World) -> Iterator[CopyRows]:
    p = plan(world)
    n = len(p.person)
    rng = rng_for(world.seed, "talent-profiles")
    named = np.where(
        p.person > 0,
        person_names(world)[np.maximum(p.person - 1, 0)],
        user_names(world)[np.maximum(p.user - 1, 0)],
    )
    ids = np.arange(1, n + 1)
    rows = CopyRows(n)
    rows.ints("id", ids)
    rows.code("external_id", "tp", ids, 7)
    rows.ints("person_id", p.person, null=p.person == 0)
    rows.ints("user_id", p.user, null=p.user == 0)
    rows.text("display_name", Take(FULL_NAMES, named))
    heads = pool([f"{r.capitalize()} based in " for r in CREDIT_ROLES])
    rows.text("headline", Take(heads, p.role), Take(pool(vocab.REGIONS), p.region))
    rows.text("bio", b"Available for film and series work.", null=rng.random(n) < 0.5)
    rows.text("primary_role", Take(pool(CREDIT_ROLES), p.role))
    rows.text("region", Take(pool(vocab.REGIONS), p.region))
    rows.bools("is_verified", rng.random(n) < np.where(p.person > 0, 0.4, 0.05))
    rows.bools("open_to_work", rng.random(n) < 0.6)
    rows.timestamps("created_at", p.created)
    updated = spread(p.created, np.full(n, world.as_of), rng.random(n))
    rows.timestamps("updated_at", updated, null=rng.random(n) < 0.5)
    yield rows


def casting_calls(world: World) -> Iterator[CopyRows]:
    p = plan(world)
    n = len(p.call_role)
    rng = rng_for(world.seed, "casting-calls")
    ids = np.arange(1, n + 1)
    actor = p.call_role == CREDIT_ROLES.index("actor")
    rows = CopyRows(n)
    rows.ints("id", ids)
    rows.code("external_id", "cc", ids, 7)
    rows.text("title", Take(ROLE_TITLES, p.call_role))
    rows.text("description", b"Send a reel and a short note.", null=rng.random(n) < 0.3)
    rows.text(
        "project_title",
        Take(PROJECTS, rng.integers(0, 5, n)),
        null=p.call_movie > 0,
    )
    rows.ints("movie_id", p.call_movie, null=p.call_movie == 0)
    rows.ints("posted_by_id", p.call_poster)
    rows.text("role", Take(pool(CREDIT_ROLES), p.call_role))
    rows.text("character_name", Take(FULL_NAMES, rng.integers(0, len(FULL_NAMES), n)), null=~actor)
    rows.text("region", Take(pool(vocab.REGIONS), rng.integers(0, len(vocab.REGIONS), n)))
    rows.bools("is_paid", rng.random(n) < 0.7)
    rows.text("status", Take(pool(CALL_STATUSES), p.call_status))
    rows.timestamps("deadline", p.call_deadline)
    rows.timestamps("created_at", p.call_created)
    closed = np.minimum(p.call_deadline + rng.integers(1, 10, n) * DAY, world.as_of)
    changed = p.call_status >= CLOSED
    rows.timestamps("updated_at", np.maximum(closed, p.call_created), null=~changed)
    yield rows


def casting_applications(world: World) -> Iterator[CopyRows]:
    p = plan(world)
    total = len(p.app_call)
    rng = rng_for(world.seed, "casting-applications")
    notes = pool(["I would love to read for this.", "Reel attached.", "Available from next month."])
    settled = p.app_status > 0
    updated = spread(p.app_created, np.full(total, world.as_of), rng.random(total) ** 3)
    for part in sliced(total):
        k = part.stop - part.start
        ids = np.arange(part.start + 1, part.stop + 1)
        rows = CopyRows(k)
        rows.ints("id", ids)
        rows.code("external_id", "ca", ids, 8)
        rows.ints("casting_call_id", p.app_call[part] + 1)
        rows.ints("talent_profile_id", p.app_profile[part] + 1)
        rows.text("status", Take(pool(APPLICATION_STATUSES), p.app_status[part]))
        rows.text("cover_note", Take(notes, rng.integers(0, 3, k)), null=rng.random(k) < 0.3)
        rows.timestamps("created_at", p.app_created[part])
        rows.timestamps("updated_at", updated[part], null=~settled[part])
        yield rows
