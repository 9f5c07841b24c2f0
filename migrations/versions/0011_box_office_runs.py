"""A rollup of box office runs, read live through the change log.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30

``queries.box_office.regional_split`` over every weekend and the box-office gross of
``budget_multiple`` sum every row of ``box_office_grosses`` per region, currency and movie
(325,000 rows at scale large, 78,000 runs). ``box_office_runs`` holds those sums, one row per
run: a materialized view, refreshed like the other views (``iwm_refresh_rollup``, rebuilt when
its source changed).

The queries read it live nonetheless. Triggers on ``box_office_grosses`` log the movies each
statement touched in ``rollup_changes`` (a TRUNCATE logs a rebuild), as 0006's triggers do for
the other rollups, and a refresh consumes them. The queries take the view's rows of the movies
not logged and sum the logged movies' rows from the table, or the whole table after a
TRUNCATE: both come from one snapshot, so the result is the table's as of the query, whatever
the refresh's age. A write logs its movies in its own transaction, and a refresh consumes only
what it has rebuilt from, so no change can be missed (a change logged and rebuilt costs only a
needless recount).

The comment on ``rollup_changes`` names the new source. The downgrade drops the triggers, their
function, the view, its record and its log rows, and restores 0006's comment.
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _load(name: str, filename: str) -> ModuleType:
    path = Path(__file__).with_name(filename)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_ROLLUPS_0006 = _load("iwm_migration_0006", "0006_incremental_rollups.py")

_NAME = "box_office_runs"
_SOURCE = "box_office_grosses"
# A week still running (week_gross NULL) adds its weekend to the run's gross, as the regional
# split counts it; finished_gross and running are what the budget multiples need.
_QUERY = """
SELECT g.region, g.currency, g.movie_id,
       sum(coalesce(g.week_gross, g.weekend_gross))::bigint AS gross,
       count(*) AS weeks,
       sum(g.week_gross)::bigint AS finished_gross,
       bool_or(g.week_gross IS NULL) AS running
FROM box_office_grosses AS g
GROUP BY g.region, g.currency, g.movie_id
"""
_INDEXES = (
    # REFRESH ... CONCURRENTLY needs a unique index on plain columns.
    f"CREATE UNIQUE INDEX uq_{_NAME} ON {_NAME} (region, currency, movie_id)",
    # The budget multiples read one currency's runs in movie order, summing each movie's.
    f"CREATE INDEX idx_{_NAME}_currency_movie ON {_NAME} (currency, movie_id) "
    "INCLUDE (finished_gross, running)",
)
# The columns a change must touch to change a run (rank and theaters do not).
_WATCHED_COLUMNS = "movie_id, region, currency, week_gross, weekend_gross"

_COMMENT = (
    "Rollup, as of its last refresh (see rollup_refreshes): per region, currency and movie, "
    "the movie's run in box_office_grosses. The box office queries read it with the movies "
    "logged in rollup_changes since, so their results are current."
)
_COLUMN_COMMENTS = {
    "region": "box_office_grosses.region",
    "currency": "box_office_grosses.currency",
    "movie_id": "The movie (movies.id)",
    "gross": "Sum of its weeks' gross; a week still running adds its weekend gross",
    "weeks": "Weeks of the run (rows of box_office_grosses)",
    "finished_gross": "Sum of the finished weeks' gross (week_gross), NULL when none",
    "running": "A week of the run is not over (week_gross NULL)",
}
_CHANGES_COMMENT = (
    "Change log of the rollups' sources, filled by triggers on reviews, pulses, movies, "
    "movie_genres, movie_streaming_options and box_office_grosses; each refresh consumes its "
    "rollup's rows."
)


def _functions_and_triggers() -> tuple[str, list[str]]:
    """0006's trigger function and triggers for one more watched table: its rules are read
    from the loaded module's ``_WATCHED``, a private copy this migration may extend."""
    _ROLLUPS_0006._WATCHED[_SOURCE] = [
        (_NAME, _WATCHED_COLUMNS, _ROLLUPS_0006._keys(_NAME, _SOURCE, "movie_id", drop_null=True))
    ]
    return _ROLLUPS_0006._log_function(_SOURCE), _ROLLUPS_0006._triggers(_SOURCE)


def upgrade() -> None:
    op.execute(f"CREATE MATERIALIZED VIEW {_NAME} AS {_QUERY} WITH NO DATA")
    for statement in _INDEXES:
        op.execute(statement)
    function, triggers = _functions_and_triggers()
    op.execute(function)
    # Run only as its owner, by the triggers, like 0006's.
    op.execute(f"ALTER FUNCTION iwm_log_{_SOURCE}_changes() OWNER TO CURRENT_USER")
    op.execute(f"REVOKE EXECUTE ON FUNCTION iwm_log_{_SOURCE}_changes() FROM PUBLIC")
    for statement in triggers:
        op.execute(statement)
    _ROLLUPS_0006._comment("MATERIALIZED VIEW", _NAME, _COMMENT)
    for column, text in _COLUMN_COMMENTS.items():
        _ROLLUPS_0006._comment("COLUMN", f"{_NAME}.{column}", text)
    _ROLLUPS_0006._comment("TABLE", "rollup_changes", _CHANGES_COMMENT)
    op.execute("INSERT INTO rollup_refreshes (name) VALUES ('box_office_runs')")
    op.execute(f"SELECT iwm_refresh_rollup('{_NAME}', false)")


def downgrade() -> None:
    for event in ("insert", "update", "delete", "truncate"):
        op.execute(f"DROP TRIGGER IF EXISTS iwm_rollup_changes_{event} ON {_SOURCE}")
    op.execute(f"DROP FUNCTION IF EXISTS iwm_log_{_SOURCE}_changes()")
    op.execute("DELETE FROM rollup_changes WHERE rollup = 'box_office_runs'")
    op.execute("DELETE FROM rollup_refreshes WHERE name = 'box_office_runs'")
    op.execute(f"DROP MATERIALIZED VIEW IF EXISTS {_NAME}")
    description, _columns = _ROLLUPS_0006._DESCRIPTIONS["rollup_changes"]
    _ROLLUPS_0006._comment("TABLE", "rollup_changes", description)
