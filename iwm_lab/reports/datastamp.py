"""Has the data a report reads changed? A fingerprint for ``run_when = "data_changed"``.

:func:`data_stamp` reads, in one query on the analyst's read-only connection (milliseconds at
any scale: nothing is scanned), these parts:

- ``revision``: the Alembic revision (``alembic_version``). A migration changes it.
- ``tables``: for each table read, summed over its partitions when it is partitioned, the
  cumulative write counters of ``pg_stat_user_tables`` (``n_tup_ins``, ``n_tup_upd``,
  ``n_tup_del``: rows inserted, updated and deleted, by committed and rolled-back transactions
  alike), the size of its main fork (``pg_relation_size``) and its storage: the file node of
  each partition (``pg_class.relfilenode``), which ``TRUNCATE`` and every rewrite (``VACUUM
  FULL``, ``CLUSTER``, ``ALTER TABLE`` that rewrites) replace, as does attaching or detaching
  a partition. ``n_live_tup`` is left out: ``VACUUM`` and ``ANALYZE`` re-estimate it without
  any write, which would make every autovacuum look like new data.
- ``rollups``: ``rollup_refreshes.refreshed_at`` of the rollups over the tables read
  (:data:`iwm_lab.rollups.SOURCES`; a rollup named in ``reads`` stands for itself), and
  ``trending``: ``trending_refreshes.refreshed_at`` of each window when ``trending_topics`` is
  read. Both are written in the refreshing transaction, so they are exact the moment it
  commits.

``reads`` empty means every base table of the schema (the models' tables, the partitioned
twins with their partitions summed into the parent), every rollup and every trending window.

**What counts as a change**: any difference in any part: a row inserted, updated or deleted
in a table read (even by a transaction that then rolled back), a table truncated or rewritten,
a partition attached or detached, a rollup or trending window refreshed, a new revision.

**Spurious "changed"** (the report just runs once more, which is safe): a write that rolled
back; a statistics reset (``pg_stat_reset()``, or the server's crash recovery, which discards
the counters); a rewrite that kept the rows (``VACUUM FULL``, ``CLUSTER``); ``VACUUM`` giving
empty pages at a table's end back to the file system (the size shrinks); a write that commits
between the stamp and the notebook's read (the notebook saw it; the next stamp differs too).

**What could miss one, and why it cannot for iwm-lab's writers.** The counters are not
transactional: a backend adds its pending counts to the shared statistics just before it goes
idle, at most once a second (``PGSTAT_MIN_INTERVAL``); when it flushed less than a second ago
it retries after ten idle seconds (``PGSTAT_IDLE_INTERVAL``), or sixty under lock contention;
and always when it exits, before it leaves ``pg_stat_activity``. So for a few seconds after a
write committed by a connection that stays open (a pool, a notebook), the counters can still
show the old figures; a stamp taken then says "unchanged", and the change is seen by the first
stamp after the flush, a slot later (a delay, never a loss: the stamp compared with is the last
good run's). iwm-lab's writers leave no such window: the seeder and ``iwm-lab import`` commit
and their process exits (the counters are flushed before the backend ends), and both refresh
the rollups over what they wrote in the same transaction, which the exact ``refreshed_at``
shows at once; ``iwm-lab db refresh`` and pg_cron are seen through ``refreshed_at`` too. With
``track_counts = off`` the counters never move: the stamp then includes the clock, so every
stamp differs and the report always runs. The counters could only miss a write for good if a
reset brought every counter, size and file node of a table back to exactly the figures last
recorded. The statistics snapshot of the session is cleared in the query
(``pg_stat_clear_snapshot()``), so with ``stats_fetch_consistency`` at its default (``cache``)
a connection inside an open transaction still reads the current counters.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, text

from iwm_lab.exceptions import UnknownTable
from iwm_lab.formatting import plural
from iwm_lab.rollups import ROLLUP_STATE_TABLES, ROLLUPS, SOURCES, TABLE_ROLLUPS

# Tables read exactly as other parts (the revision, the refresh records), not by counters. The
# rollups stored as tables, and their change log, change with the data they summarise or with
# a refresh, which the refresh records already say.
_BOOKKEEPING = (
    "alembic_version",
    "rollup_refreshes",
    "trending_refreshes",
    *TABLE_ROLLUPS,
    *ROLLUP_STATE_TABLES,
)
TRENDING_TABLE = "trending_topics"
DIGEST_CHARS = 16
_NAME_SHOWN = 64

# One statement. The scalar subquery in the stats part's WHERE is an InitPlan, run once before
# the first counter is read, so the session's statistics snapshot is current even inside a
# transaction that read counters before. ``:names`` NULL means every base table of the schema.
_STAMP = text(
    """
    select
      (select string_agg(version_num, ',' order by version_num) from alembic_version)
        as revision,
      current_setting('track_counts') = 'on' as counting,
      clock_timestamp()::text as clock,
      (select coalesce(json_object_agg(name, json_build_array(
                          inserted, updated, deleted, bytes, storage)), '{}')
       from (
         select top.relname as name,
                sum(pg_catalog.pg_stat_get_tuples_inserted(leaf.oid)) as inserted,
                sum(pg_catalog.pg_stat_get_tuples_updated(leaf.oid)) as updated,
                sum(pg_catalog.pg_stat_get_tuples_deleted(leaf.oid)) as deleted,
                coalesce(sum(pg_catalog.pg_relation_size(leaf.oid)), 0) as bytes,
                coalesce(string_agg(leaf.oid::text || ':' || leaf.relfilenode::text, ','
                                    order by leaf.oid), '') as storage
         from pg_catalog.pg_class as top
         left join lateral (
             select top.oid where top.relkind <> 'p'
             union all
             select tree.relid from pg_catalog.pg_partition_tree(top.oid) as tree
             where top.relkind = 'p' and tree.isleaf and tree.relid <> top.oid
         ) as part(oid) on true
         left join pg_catalog.pg_class as leaf on leaf.oid = part.oid
         where top.relnamespace = pg_catalog.current_schema()::regnamespace
           and (select true from (select pg_catalog.pg_stat_clear_snapshot()) as cleared)
           and case when cast(:names as text[]) is null
                    then top.relkind in ('r', 'p') and not top.relispartition
                         and top.relname <> all(cast(:bookkeeping as text[]))
                    else top.relkind in ('r', 'p', 'm')
                         and top.relname = any(cast(:names as text[]))
               end
         group by top.relname
       ) as counted) as tables,
      (select coalesce(json_object_agg(name, refreshed_at::text), '{}')
       from rollup_refreshes where name = any(cast(:rollups as text[]))) as rollups,
      (select coalesce(json_object_agg(window_label, refreshed_at::text), '{}')
       from trending_refreshes where :trending) as trending
    """
)

_KNOWN = text(
    """
    select relname from pg_catalog.pg_class
    where relnamespace = pg_catalog.current_schema()::regnamespace
      and relkind in ('r', 'p', 'm') and not relispartition
      and relname <> all(cast(:bookkeeping as text[]))
    order by relname
    """
)

_COUNTERS = ("inserted", "updated", "deleted")


@dataclass(frozen=True)
class DataStamp:
    """A fingerprint of what a report reads: ``digest`` to store, ``parts`` to explain.

    ``parts`` holds ``revision`` (text), ``tables`` (name: ``inserted``, ``updated``,
    ``deleted``, ``bytes``, ``storage``), ``rollups`` and ``trending`` (name: refresh time as
    text), and ``untracked`` (the clock) when the server keeps no write counters. It is plain
    JSON, so it can be stored beside the run and compared later with :func:`changed_parts`.
    """

    digest: str
    parts: dict[str, Any] = field(default_factory=dict)


def _digest(parts: Mapping[str, Any]) -> str:
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:DIGEST_CHARS]


def _storage(value: str) -> str:
    # The partitions' oid:filenode list can be long; its hash tells the same.
    return hashlib.sha256(value.encode()).hexdigest()[:12]


def _rollups_for(names: Sequence[str]) -> list[str]:
    wanted: set[str] = set()
    for name in names:
        wanted.update(SOURCES.get(name, ()))
        if name in ROLLUPS:
            wanted.add(name)
    return sorted(wanted)


def _unknown(conn: Connection, missing: Sequence[str]) -> UnknownTable:
    known = list(conn.execute(_KNOWN, {"bookkeeping": list(_BOOKKEEPING)}).scalars())
    name = missing[0]
    shown = repr(name) if len(name) <= _NAME_SHOWN else f"{name[:_NAME_SHOWN]!r}…"
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(close)}?" if close else f"known: {', '.join(known)}"
    return UnknownTable(f"unknown table {shown} in reads: {hint}")


def data_stamp(conn: Connection, reads: Sequence[str] = ()) -> DataStamp:
    """Fingerprint what a report reads (``reads``: table or rollup names; empty: everything).

    One query on ``conn`` (the analyst's read-only session will do); see the module's
    docstring for what counts as a change. An unknown name raises
    :class:`~iwm_lab.exceptions.UnknownTable` naming the closest ones.
    """
    names = list(dict.fromkeys(reads))
    everything = not names
    row = (
        conn.execute(
            _STAMP,
            {
                "names": None if everything else names,
                "bookkeeping": list(_BOOKKEEPING),
                "rollups": list(ROLLUPS) if everything else _rollups_for(names),
                "trending": everything or TRENDING_TABLE in names,
            },
        )
        .mappings()
        .one()
    )
    raw_tables: dict[str, list[Any]] = row["tables"]
    missing = [name for name in names if name not in raw_tables]
    if missing:
        raise _unknown(conn, missing)
    tables = {
        name: {
            "inserted": int(inserted or 0),
            "updated": int(updated or 0),
            "deleted": int(deleted or 0),
            "bytes": int(size or 0),
            "storage": _storage(storage or ""),
        }
        for name, (inserted, updated, deleted, size, storage) in sorted(raw_tables.items())
    }
    parts: dict[str, Any] = {
        "revision": row["revision"],
        "tables": tables,
        "rollups": dict(sorted(row["rollups"].items())),
        "trending": dict(sorted(row["trending"].items())),
    }
    if not row["counting"]:
        # No counters: nothing tells an unchanged table from a written one, so never skip.
        parts["untracked"] = row["clock"]
    return DataStamp(_digest(parts), parts)


def _table_changes(name: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    deltas = {key: int(new.get(key, 0)) - int(old.get(key, 0)) for key in _COUNTERS}
    if any(delta < 0 for delta in deltas.values()):
        return [f"{name}: write counters were reset (statistics reset or crash recovery)"]
    lines = [f"{name}: {plural(delta, 'row')} {key}" for key, delta in deltas.items() if delta > 0]
    if old.get("storage") != new.get("storage"):
        lines.append(f"{name}: truncated, rewritten or repartitioned")
    elif not lines and old.get("bytes") != new.get("bytes"):
        lines.append(f"{name}: size {old.get('bytes', 0):,} -> {new.get('bytes', 0):,} bytes")
    return lines


def _refreshes(kind: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    lines = []
    for name in sorted(set(old) | set(new)):
        if old.get(name) != new.get(name):
            when = new.get(name)
            lines.append(f"{kind} {name} refreshed at {when}" if when else f"{kind} {name} gone")
    return lines


def changed_parts(old_parts: Mapping[str, Any] | None, new_parts: Mapping[str, Any]) -> list[str]:
    """What differs between two stamps' ``parts``, in words; empty when nothing does.

    E.g. ``["revision 0005 -> 0006", "reviews: 1,000 rows inserted",
    "rollup movie_review_stats refreshed at 2025-03-10 06:00:12.345678"]``.
    """
    if not old_parts:
        return ["no earlier fingerprint to compare with"]
    lines = []
    if old_parts.get("revision") != new_parts.get("revision"):
        lines.append(f"revision {old_parts.get('revision')} -> {new_parts.get('revision')}")
    old_tables = old_parts.get("tables", {})
    new_tables = new_parts.get("tables", {})
    for name in sorted(set(old_tables) | set(new_tables)):
        if name not in old_tables:
            lines.append(f"{name}: not read before")
        elif name not in new_tables:
            lines.append(f"{name}: no longer read")
        else:
            lines += _table_changes(name, old_tables[name], new_tables[name])
    lines += _refreshes("rollup", old_parts.get("rollups", {}), new_parts.get("rollups", {}))
    lines += _refreshes("trending", old_parts.get("trending", {}), new_parts.get("trending", {}))
    if "untracked" in new_parts:
        lines.append("the server keeps no write counters (track_counts = off): always runs")
    return lines
