"""The query surface an analyst explores: what each area lists, and one dtype per column name.

Every public query function (the ``__all__`` of each area) runs on the tiny demo dataset with
representative arguments; a column name must have the same dtype in every result, so that
``availability()`` and ``top_rated()`` can be joined on ``year`` or ``movie_id`` without a
cast. A public function without an entry in :func:`arguments` fails the suite, so a new one
is checked from its first commit. ``dir()`` of each area lists only its ``__all__``, and
``iwm_lab.queries`` lists the areas without importing them.
"""

from __future__ import annotations

import inspect
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from importlib import import_module
from types import ModuleType
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Connection

import iwm_lab.queries
from iwm_lab.demodata import NOTEBOOK_AS_OF
from iwm_lab.queries._common import genre_slugs, regions
from iwm_lab.queries.box_office import MULTIPLE_GROUPS, box_office_regions

AREAS = (
    "awards",
    "box_office",
    "overview",
    "platform_health",
    "ratings",
    "security",
    "streaming",
    "trending",
)

# Public functions that do not read the database into a frame, and why.
NOT_FRAMES = {
    "overview.age_figures": "reads a freshness() frame, not the database",
    "overview.stale_sources": "reads a freshness() frame, not the database",
    "streaming.check_region": "validates a region code and returns it",
    "trending.pulse_span": "returns two moments",
}


def arguments(
    conn: Connection, as_of: datetime = NOTEBOOK_AS_OF
) -> dict[str, list[dict[str, Any]]]:
    """Representative calls of every public query function, by ``area.function``: the
    parameters that change a result's shape or its source (each score source, by id and by
    title, every grouping), with values that exist in the data behind ``conn``; windows end
    at ``as_of`` (the tiny dataset's by default; ``benchmarks/bench_queries.py`` passes the
    last pulse of the data it measures)."""
    region, genre = regions(conn)[0], genre_slugs(conn)[0]
    # A region with box office grosses ("US" when there is none, which the calls refuse).
    charted = next(iter(box_office_regions(conn)["region"]), "US")
    month = {"start": (as_of - timedelta(days=30)).date(), "end": as_of.date()}
    ratings_sources = [{"source": s} for s in ("siddu", "rotten_tomatoes", "users")]
    return {
        "awards.awards_vs_ratings": [
            {},
            {"source": "users", "min_reviews": 1},
            {"body_type": "academy", "year_from": 1990},
        ],
        "awards.festival_paths": [{}, {"by_festival": True, "window_years": 5}],
        "awards.most_awarded_people": [{}, {"body_type": "guild", "year_to": 2020}],
        "box_office.box_office_regions": [{}],
        "box_office.budget_multiple": [
            *({"by": by} for by in MULTIPLE_GROUPS),
            {"gross": "box_office", "genre": genre},
        ],
        "box_office.regional_split": [{}, month],
        "box_office.run_legs": [{"region": charted}, {"region": charted, "order": "legs"}],
        "box_office.weekend_races": [{"region": charted}, {"region": charted, "until": as_of}],
        "platform_health.moderation_queue": [{"as_of": as_of}],
        "platform_health.quiz_difficulty": [
            {"as_of": as_of, "min_attempts": 1},
            {"as_of": as_of, "difficulty": "hard"},
        ],
        "platform_health.quiz_engagement": [{"as_of": as_of}, {"as_of": as_of, "by": "difficulty"}],
        "platform_health.time_to_action": [{"as_of": as_of}, {"as_of": as_of, "by": "reason"}],
        "overview.freshness": [{}, {"as_of": as_of}],
        "overview.null_shares": [{}],
        "overview.table_row_counts": [{}],
        "ratings.divisive_movies": [{"min_reviews": 1}],
        "ratings.platform_agreement": [{}, {"genre": genre}],
        "ratings.ratings_by_genre": [{"min_reviews": 1}],
        "ratings.ratings_by_year": [{"by": "year"}, {"by": "decade", "genre": genre}],
        "ratings.review_volume": [month, {**month, "freq": "week"}],
        "ratings.score_distribution": ratings_sources,
        "ratings.score_gap": [
            {"a": "users", "b": "critics", "by": by, "min_reviews": 1}
            for by in ("genre", "decade", "year", "none")
        ],
        "ratings.top_rated": [{"min_reviews": 1}, {"genre": genre, "year_from": 1990}],
        "security.password_hash_audit": [{}],
        "streaming.availability": [{"title": "the"}, {"movie_ids": [1, 2, 3]}],
        "streaming.coverage_by_region": [{}, {"source": "users", "min_reviews": 1}],
        "streaming.coverage_gap_summary": [{"region": region}, {"region": region.lower()}],
        "streaming.coverage_gaps": [
            {"region": region, "min_score": 6.0},
            {"region": region, "source": "users", "min_score": 6.0, "min_reviews": 1},
        ],
        "streaming.platform_share": [{"region": region}],
        "streaming.price_quality_mix": [{"region": region}],
        "trending.hashtag_counts": [{"as_of": as_of}, {"as_of": as_of, "category": "movie"}],
        "trending.hashtag_timeseries": [{"tags": ["dune", "#cricket"], **month}],
        "trending.new_tags": [{"as_of": as_of, "min_count": 1}],
        "trending.rising_tags": [{"as_of": as_of, "min_count": 1}],
        "trending.trending_refreshes": [{}],
        "trending.trending_topics": [{}, {"window": "30d"}],
        "trending.window_totals": [{"as_of": as_of}],
    }


def area(name: str) -> ModuleType:
    return import_module(f"iwm_lab.queries.{name}")


def public_functions() -> Iterator[tuple[str, Any]]:
    for name in AREAS:
        module = area(name)
        for public in module.__all__:
            value = getattr(module, public)
            if inspect.isfunction(value):
                yield f"{name}.{public}", value


def test_every_public_function_has_representative_arguments(tiny: Connection) -> None:
    listed = set(arguments(tiny)) | set(NOT_FRAMES)
    public = {name for name, _ in public_functions()}
    assert public - listed == set(), "add the new functions' calls to arguments()"
    assert listed - public == set(), "arguments() names functions that are not public"


@pytest.fixture(scope="module")
def dtypes(tiny: Connection) -> dict[str, dict[str, list[str]]]:
    """Column name -> dtype -> the calls that returned it."""
    seen: dict[str, dict[str, list[str]]] = {}
    functions = dict(public_functions())
    for name, calls in arguments(tiny).items():
        for kwargs in calls:
            result = functions[name](tiny, **kwargs)
            assert isinstance(result, pd.DataFrame), name
            call = f"{name}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"
            for column, dtype in result.dtypes.astype(str).items():
                seen.setdefault(str(column), {}).setdefault(dtype, []).append(call)
    return seen


def test_one_dtype_per_column_name(dtypes: dict[str, dict[str, list[str]]]) -> None:
    mixed = {column: by_dtype for column, by_dtype in dtypes.items() if len(by_dtype) > 1}
    assert mixed == {}
    # The columns the issue named, and one of each kind, are checked by name too.
    assert list(dtypes["year"]) == ["Int64"]
    assert list(dtypes["movie_id"]) == ["int64"]
    assert list(dtypes["platform_id"]) == ["Int64"]  # NA where a movie has no option
    assert list(dtypes["period"]) == ["datetime64[us]"]
    assert list(dtypes["title"]) == ["str"]


def test_every_kind_has_one_dtype(dtypes: dict[str, dict[str, list[str]]]) -> None:
    """Text is ``str`` (never ``object``), moments are microsecond datetimes (the unit pandas
    gives Python datetimes), so two frames concatenate without a cast."""
    kinds = {dtype for by_dtype in dtypes.values() for dtype in by_dtype}
    assert "object" not in kinds
    assert {k for k in kinds if k.startswith("datetime")} == {"datetime64[us]"}


@pytest.mark.parametrize("name", AREAS)
def test_dir_lists_only_the_public_names(name: str) -> None:
    module = area(name)
    assert dir(module) == sorted(module.__all__)
    for public in module.__all__:
        value = getattr(module, public)
        assert not inspect.ismodule(value), public
        if callable(value):
            assert value.__module__.startswith("iwm_lab."), public
    # Every public function defined in the module is listed: none hides from dir().
    defined = {
        n
        for n, value in vars(module).items()
        if inspect.isfunction(value) and value.__module__ == module.__name__
    }
    assert {n for n in defined if not n.startswith("_")} - {"__dir__"} <= set(module.__all__)


def test_the_package_lists_its_areas() -> None:
    assert iwm_lab.queries.__all__ == list(AREAS)
    assert dir(iwm_lab.queries) == list(AREAS)
    assert iwm_lab.queries.ratings is area("ratings")
    with pytest.raises(AttributeError, match="has no attribute 'charts'"):
        _ = iwm_lab.queries.charts


@pytest.mark.slow
def test_importing_the_package_imports_no_area() -> None:
    probe = (
        "import sys, iwm_lab.queries as q\n"
        "print(dir(q), sorted(m for m in sys.modules if m.startswith('iwm_lab.queries.')),"
        " 'pandas' in sys.modules)\n"
        "from iwm_lab.queries import streaming\n"
        "print(streaming.__name__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    lazy, loaded = done.stdout.splitlines()
    assert lazy == f"{list(AREAS)} [] False"
    assert loaded == "iwm_lab.queries.streaming"
