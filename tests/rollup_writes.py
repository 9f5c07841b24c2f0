"""What a transaction wrote to the table rollups, and what a rollup holds, for the tests of
rebuilds and of seeded rollups.

Writes are read from ``pg_stat_xact_user_tables``, which counts the rows the current
transaction inserted and deleted, functions' statements included, but also those of the
session's earlier transactions whose counts are not yet flushed: so a test compares the counts
before and after, in one transaction.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from iwm_lab import rollups


def written(conn: Connection) -> dict[str, tuple[int, int]]:
    """(rows inserted, rows deleted or updated) per table rollup, as counted so far."""
    rows = conn.execute(
        text(
            "select relname, n_tup_ins, n_tup_del + n_tup_upd from pg_stat_xact_user_tables "
            "where relname = any(:names)"
        ),
        {"names": [*rollups.TABLE_ROLLUPS, "movie_score_counts"]},
    ).all()
    return {name: (inserted, deleted) for name, inserted, deleted in rows}


def since(before: dict[str, tuple[int, int]], conn: Connection) -> dict[str, tuple[int, int]]:
    """The rows written since ``before``, per table rollup that was written."""
    now = written(conn)
    changed = {
        name: (inserted - before[name][0], deleted - before[name][1])
        for name, (inserted, deleted) in now.items()
    }
    return {name: counts for name, counts in changed.items() if counts != (0, 0)}


def contents(conn: Connection, name: str) -> list[str]:
    """A rollup's rows as text, sorted."""
    return sorted(conn.execute(text(f"select t::text from {name} as t")).scalars())
