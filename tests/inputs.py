"""Inputs shared by test modules: hostile strings and a row factory.

Imported as ``from inputs import HOSTILE, insert`` (pytest puts ``tests/`` on ``sys.path``, as
for ``seed_contract``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, text

from iwm_lab import operations, rollups

# Values a caller might pass as a choice (genre, region, window, category, frequency) that
# must be refused, or matched only literally where they are data: SQL that ends the literal,
# a comment, LIKE wildcards alone and in near misses of values the tests' rows hold ("drama",
# "US", "7d"), quoting, a backslash, a NUL, and text outside ASCII.
HOSTILE = [
    "'",
    "--",
    "' OR 1=1 --",
    "x'; DROP TABLE movies; --",
    "%",
    "_",
    "dr_ma",
    "U%",
    "7d'--",
    '"US"',
    "back\\slash",
    "US\x00",
    "ünïcødé ✓ 映画 😀",
]
# PostgreSQL text cannot hold NUL: these can also be stored as rows' values.
STORABLE_HOSTILE = [value for value in HOSTILE if "\x00" not in value]


def insert(
    conn: Connection,
    table: str,
    rows: Iterable[Mapping[str, Any]],
    *,
    refresh_rollups: bool = True,
) -> list[int]:
    """Insert ``rows`` (column → value, every value bound) into ``table`` and return their
    ids. The rollups built from ``table`` are refreshed, so queries over them see the rows;
    tests of the table alone skip that (``refresh_rollups=False``), as it costs a refresh of
    each view per call."""
    ids = []
    for row in rows:
        columns = ", ".join(f'"{column}"' for column in row)
        binds = ", ".join(f":{column}" for column in row)
        statement = text(f"insert into {table} ({columns}) values ({binds}) returning id")
        ids.append(conn.execute(statement, dict(row)).scalar_one())
    if refresh_rollups and table in rollups.SOURCES:
        operations.refresh_rollups_in(conn, rollups.SOURCES[table], concurrently=False)
    return ids
