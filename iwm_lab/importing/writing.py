"""Loading a file into a table: COPY into a staging table, check there, INSERT … SELECT.

Everything happens in one transaction, so a refused file leaves no trace. The rows are
converted in Python as they stream from the file and COPYed into a temporary table that has
the target's column types but none of its constraints. Keys and references are then checked
with set-based SQL on the staging table (duplicates within the file and against the table,
foreign keys to missing rows), which names the line of every offender. The good rows are
then written with ``INSERT … SELECT`` (an upsert first UPDATEs the rows whose external_id
exists, ``UPDATE … FROM`` the staging table). Anything else the database refuses there (a
CHECK over several columns, which ``checks.ROW_CHECKS`` names and words; a constraint added
outside the models) is pinned to its rows by bisecting the staged range under savepoints.

SQL is built with SQLAlchemy Core (bound parameters, quoted identifiers) except the COPY
statement, composed with psycopg's ``sql.Identifier``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    Column,
    Connection,
    Engine,
    MetaData,
    Table,
    and_,
    any_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    select,
    true,
    update,
)
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from iwm_lab import rollups
from iwm_lab.database import require_writable
from iwm_lab.exceptions import DatabaseUnavailable, ImportFailed, ImportRejected, IwmLabError
from iwm_lab.importing.conversion import show
from iwm_lab.importing.readers import Source, detect_format, open_source
from iwm_lab.importing.report import (
    ImportReport,
    RejectFile,
    RowError,
    default_reject_path,
    refusal,
)
from iwm_lab.importing.tables import (
    IMPORTABLE_TABLES,
    UPSERT_KEY,
    ColumnMap,
    TableSpec,
    UniqueKey,
    convert_record,
    table_spec,
)
from iwm_lab.operations import refresh_rollups_in

_NUMBER = "_n"  # the staging table's column holding each row's line or record number
_UPDATE = "_update"  # whether an upsert row matches an existing row


def import_file(
    engine: Engine,
    table: str,
    path: Path | str,
    *,
    format: str | None = None,
    skip_bad: bool = False,
    reject_path: Path | str | None = None,
    upsert: bool = False,
    encoding: str = "utf-8",
    force: bool = False,
) -> ImportReport:
    """Load a CSV, JSON lines, JSON array or Parquet file into ``table``, all or nothing.

    ``format`` defaults to the file's extension (.csv, .jsonl/.ndjson, .json, .parquet).
    Fields are matched to columns by name (trimmed, case-insensitive); unknown fields are
    ignored and listed in the report. Each value is converted by its column's type (see
    ``iwm_lab.importing.conversion`` for the accepted forms).

    By default any bad row refuses the whole file: :class:`ImportRejected` names the first
    one (line or record, column, value, reason) and nothing is written. With ``skip_bad`` the
    good rows are loaded and the bad ones go to ``reject_path`` (default
    ``<name>.rejects.csv`` beside a CSV file, ``<name>.rejects.jsonl`` otherwise) with an
    extra ``_error`` field. An explicit ``reject_path`` is written on refusal too. The reject
    file is checked before anything is read into the database (its folder must exist and be
    writable; an existing file is kept unless ``force``) and is in place before the load
    commits.

    ``upsert`` updates rows whose ``external_id`` already exists (the file's columns only;
    ``id`` is never changed) and inserts the others. A file with an ``id`` column keeps its
    ids, every row must have one, and the id sequence is moved past the largest.
    """
    try:
        spec = table_spec(table)
    except KeyError:
        raise ImportRejected(
            f"cannot import into {table!r}; importable tables: {', '.join(IMPORTABLE_TABLES)}"
        ) from None
    if upsert and not spec.upsertable:
        with_key = [name for name in IMPORTABLE_TABLES if table_spec(name).upsertable]
        raise ImportRejected(
            f"an upsert matches rows on {UPSERT_KEY}, which {table} does not have "
            f"(tables with it: {', '.join(with_key)})"
        )
    path = Path(path)
    chosen_format = detect_format(path, format)
    source = open_source(path, chosen_format, encoding)
    column_map = ColumnMap(spec)
    if source.fields is not None:
        _check_fields(source, source.fields, column_map, upsert)
    rejects = Path(reject_path) if reject_path is not None else None
    if rejects is None and skip_bad:
        rejects = default_reject_path(path, chosen_format)
    if rejects is not None and rejects.resolve() == path.resolve():
        raise ImportRejected(f"the reject file would overwrite the input {path}")
    reject_file = RejectFile(rejects, force=force) if rejects is not None else None
    try:
        return _import(engine, spec, source, column_map, reject_file, upsert, skip_bad)
    finally:
        if reject_file is not None:
            reject_file.discard()


def _import(
    engine: Engine,
    spec: TableSpec,
    source: Source,
    column_map: ColumnMap,
    reject_file: RejectFile | None,
    upsert: bool,
    skip_bad: bool,
) -> ImportReport:
    path = source.path
    load = _Load(spec, source, column_map, upsert=upsert, skip_bad=skip_bad)
    refused = False
    refreshed: tuple[str, ...] = ()
    stage = "connecting"
    try:
        with engine.begin() as conn:
            stage = "loading"
            require_writable(conn, "importing")
            load.run(conn)
            if load.inserted or load.updated:
                # In the same transaction: the summaries commit with the rows they count.
                stale = rollups.SOURCES.get(spec.name, ())
                refreshed = tuple(r.name for r in refresh_rollups_in(conn, stale))
            # Before the commit: rows are never loaded while their rejects are lost.
            if load.bad and reject_file is not None:
                reject_file.write(source, _sorted_errors(load))
            stage = "committing"
    except _Refused:
        refused = True
    except (DBAPIError, psycopg.Error) as exc:
        raise _database_failure(exc, stage, spec.name, path, reject_file) from None

    errors = _sorted_errors(load)
    if refused:
        rejects = reject_file.path if reject_file is not None else None
        if reject_file is not None:
            reject_file.write(source, errors)
        raise refusal(path, errors, load.rows_read, rejects)
    return ImportReport(
        table=spec.name,
        path=path,
        format=source.format,
        rows_read=load.rows_read,
        inserted=load.inserted,
        updated=load.updated,
        rejected=len(load.bad),
        unknown_columns=tuple(column_map.unknown),
        reject_path=reject_file.path if reject_file is not None and errors else None,
        errors=errors,
        rollups_refreshed=refreshed,
    )


def _sorted_errors(load: _Load) -> tuple[RowError, ...]:
    return tuple(sorted(load.errors(), key=lambda e: e.number))


# SQLSTATE classes of a connection that is gone: 08 connection exception, 57P01-57P03
# administrator shutdown, crash shutdown, cannot connect now.
_LOST = ("08", "57P01", "57P02", "57P03")


def _database_failure(
    exc: DBAPIError | psycopg.Error,
    stage: str,
    table: str,
    path: Path,
    reject_file: RejectFile | None,
) -> IwmLabError:
    """One line for a failure of the database rather than of the file."""
    error = exc.orig if isinstance(exc, DBAPIError) else exc
    sqlstate = getattr(error, "sqlstate", None) or ""
    diag = getattr(error, "diag", None)
    reason = (diag.message_primary if diag is not None else None) or str(error)
    # Only the first line: psycopg adds context lines, never the statement's parameters.
    reason = reason.strip().splitlines()[0] if reason.strip() else type(error).__name__
    if stage == "connecting":
        return DatabaseUnavailable(f"cannot connect to the database: {reason}; nothing imported")
    lost = (
        sqlstate.startswith(_LOST)
        or (isinstance(exc, DBAPIError) and exc.connection_invalidated)
        # A connection closed under psycopg has no SQLSTATE at all.
        or (isinstance(error, psycopg.OperationalError | psycopg.InterfaceError) and not sqlstate)
    )
    what = "the connection to the database was lost" if lost else "the database failed"
    if stage == "committing" and lost:
        # The COMMIT may have landed before the connection went: only the table can tell.
        return ImportFailed(
            f"{path.name}: {what} while committing ({reason}): whether its rows were written "
            f"is unknown; check {table} before importing again"
        )
    # A COMMIT that answers with an error has rolled back.
    phase = "while committing" if stage == "committing" else "during the import"
    text = f"{path.name}: {what} {phase} ({reason}); nothing imported"
    if reject_file is not None and reject_file.placed:
        text += f"; the bad rows found are in {reject_file.path}"
    return ImportFailed(text)


def _check_fields(source: Source, fields: list[str], column_map: ColumnMap, upsert: bool) -> None:
    """Refuse a header that cannot work for any row, before reading the rows."""
    spec = column_map.spec
    duplicates = column_map.duplicates(fields)
    if duplicates:
        listing = "; ".join(f"{name} ({', '.join(names)})" for name, names in duplicates.items())
        raise source.refuse(f"columns given more than once: {listing}")
    present = column_map.present()
    if not present:
        raise source.refuse(f"none of the columns ({', '.join(fields)}) is a column of {spec.name}")
    missing = [name for name in spec.required if name not in present]
    # An upsert may update a few columns only; its new rows are checked in the database.
    if missing and not upsert:
        raise source.refuse(
            f"no column {', '.join(missing)}, which {spec.name} requires (NOT NULL, no default)"
        )
    if upsert and UPSERT_KEY not in present:
        raise source.refuse(f"an upsert needs an {UPSERT_KEY} column")


class _Refused(Exception):
    """Raised inside the transaction so that leaving it rolls everything back."""


@dataclass
class _Load:
    spec: TableSpec
    source: Source
    column_map: ColumnMap
    upsert: bool
    skip_bad: bool
    rows_read: int = 0
    inserted: int = 0
    updated: int = 0
    bad: dict[int, list[RowError]] = field(default_factory=dict)

    def errors(self) -> Iterable[RowError]:
        return (error for errors in self.bad.values() for error in errors)

    def add(self, number: int, column: str | None, value: str | None, reason: str) -> None:
        error = RowError(self.source.unit, number, column, value, reason)
        self.bad.setdefault(number, []).append(error)

    def run(self, conn: Connection) -> None:
        stage = _staging_table(self.spec)
        stage.create(conn)
        self._copy(conn, stage)
        present = self.column_map.present()
        if not present:
            if self.rows_read and not self.bad:
                raise self.source.refuse(f"no field of any record is a column of {self.spec.name}")
            self._settle()
            return
        if self.upsert and UPSERT_KEY not in present:
            raise self.source.refuse(f"an upsert needs {UPSERT_KEY} in the records")
        _execute_sql(conn, "ANALYZE {}", stage.name)
        if self.upsert:
            target = self.spec.table
            conn.execute(
                update(stage)
                .values({_UPDATE: True})
                .where(exists().where(target.c[UPSERT_KEY] == stage.c[UPSERT_KEY]))
            )
        self._check_staged(conn, stage, present)
        self._settle()
        self._drop_bad(conn, stage)
        self._write(conn, stage, present)
        self._settle()
        self._drop_bad(conn, stage)
        total, updated = conn.execute(
            select(func.count(), func.count().filter(stage.c[_UPDATE]))
        ).one()
        self.inserted, self.updated = total - updated, updated
        if self.spec.serial is not None and self.spec.serial in present:
            target = self.spec.table
            sequence = func.pg_get_serial_sequence(target.name, self.spec.serial)
            highest = select(func.max(target.c[self.spec.serial])).scalar_subquery()
            conn.execute(select(func.setval(sequence, highest)))

    def _settle(self) -> None:
        if self.bad and not self.skip_bad:
            raise _Refused

    def _copy(self, conn: Connection, stage: Table) -> None:
        """Convert every record and COPY the good ones into the staging table."""
        names = [column.name for column in self.spec.table.columns]
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(stage.name),
            sql.SQL(", ").join(sql.Identifier(name) for name in [_NUMBER, *names]),
        )
        raw = conn.connection.driver_connection
        assert raw is not None
        lost: psycopg.Error | None = None
        with raw.cursor() as cursor, cursor.copy(statement) as copy:
            try:
                for record in self.source.records():
                    self.rows_read += 1
                    if record.problem is not None:
                        self.add(record.number, None, None, record.problem)
                        continue
                    values, problems = convert_record(
                        self.column_map, record.values, require_all=not self.upsert
                    )
                    for problem in problems:
                        self.add(record.number, problem.column, problem.value, problem.reason)
                    if not problems:
                        copy.write_row([record.number, *(values.get(name) for name in names)])
            except psycopg.Error as exc:
                # Leaving the block with this error would make psycopg log a second one (it
                # cannot cancel the COPY on a lost connection); ending the COPY raises instead.
                lost = exc
        if lost is not None:
            raise lost

    def _check_staged(self, conn: Connection, stage: Table, present: set[str]) -> None:
        """Report rows whose keys or references the database would refuse."""
        target = self.spec.table
        serial = self.spec.serial
        if serial is not None and serial in present:
            for (number,) in conn.execute(
                select(stage.c[_NUMBER]).where(stage.c[serial].is_(None))
            ):
                self.add(
                    number,
                    serial,
                    None,
                    f"empty, but the file gives {serial}s: every row needs one",
                )
        if self.upsert:
            self._check_required(conn, stage, present)
        for key in self.spec.unique_keys:
            if key.nulls_distinct and not set(key.columns) <= present:
                continue
            self._check_key(conn, stage, key)
        for fk in target.foreign_keys:
            name = fk.parent.name
            if name not in present:
                continue
            referenced = fk.column
            query = select(stage.c[_NUMBER], stage.c[name]).where(
                stage.c[name].is_not(None),
                ~exists().where(referenced == stage.c[name]),
            )
            for number, value in conn.execute(query):
                self.add(
                    number,
                    name,
                    show(value),
                    f"no {referenced.table.name} row has {referenced.name} {value}",
                )

    def _check_required(self, conn: Connection, stage: Table, present: set[str]) -> None:
        """Upsert: a row to insert needs every required column, a row to update none."""
        for name in self.spec.required:
            if name in present:
                # A JSON record may leave out a key that others give; that would be NULL.
                query = select(stage.c[_NUMBER]).where(stage.c[name].is_(None))
                reason = "required (NOT NULL, no default) but missing"
            else:
                query = select(stage.c[_NUMBER]).where(stage.c[_UPDATE].is_not(true()))
                reason = (
                    f"required (NOT NULL, no default) for a new row, and this {UPSERT_KEY} "
                    f"is not in {self.spec.name} yet"
                )
            for (number,) in conn.execute(query):
                self.add(number, name, None, reason)

    def _check_key(self, conn: Connection, stage: Table, key: UniqueKey) -> None:
        staged = [stage.c[name] for name in key.columns]
        filled = [column.is_not(None) for column in staged] if key.nulls_distinct else []
        column = ", ".join(key.columns)

        target = self.spec.table
        # A partial unique index holds among the rows that meet its condition only.
        staged_where, target_where = key.condition(stage), key.condition(target)

        first = func.min(stage.c[_NUMBER]).over(partition_by=staged).label("first")
        ranked = select(stage.c[_NUMBER], first, *staged).where(*filled, *staged_where).subquery()
        repeats = select(ranked).where(ranked.c[_NUMBER] != ranked.c.first)
        for row in conn.execute(repeats):
            number, first_number, *values = row
            reason = f"repeats {self.source.unit} {first_number} (must be unique)"
            self.add(number, column, _show_key(values), reason)

        if self.upsert and key.columns == (UPSERT_KEY,):
            return  # existing rows are what an upsert updates
        matches = and_(
            *(_same(target, stage, name, key.nulls_distinct) for name in key.columns),
            *target_where,
        )
        query = select(stage.c[_NUMBER], *staged).where(
            *filled, *staged_where, exists().where(matches)
        )
        if self.upsert:
            query = query.where(stage.c[_UPDATE].is_not(true()))
        hint = ""
        if key.columns == (UPSERT_KEY,):
            hint = " (an upsert updates existing rows)"
        for number, *values in conn.execute(query):
            self.add(number, column, _show_key(values), f"already in {target.name}{hint}")

    def _drop_bad(self, conn: Connection, stage: Table) -> None:
        if self.bad:
            numbers = bindparam("numbers", list(self.bad), type_=ARRAY(BigInteger))
            conn.execute(delete(stage).where(stage.c[_NUMBER] == any_(numbers)))

    def _write(self, conn: Connection, stage: Table, present: set[str]) -> None:
        """Write the staged rows; if the database refuses, find the rows to blame."""
        names = [column.name for column in self.spec.table.columns if column.name in present]

        def write(low: int | None = None, high: int | None = None) -> None:
            target = self.spec.table
            chosen = [stage.c[_NUMBER].between(low, high)] if low is not None else []
            if self.upsert:
                # UPDATE … FROM rather than INSERT … ON CONFLICT: PostgreSQL checks NOT NULL on
                # the row to insert before it finds the conflict, so an upsert could not
                # update a few columns of existing rows. _UPDATE marks the matched rows.
                kept = {UPSERT_KEY, self.spec.serial}
                changes = {name: stage.c[name] for name in names if name not in kept}
                if changes:
                    matched = target.c[UPSERT_KEY] == stage.c[UPSERT_KEY]
                    conn.execute(
                        update(target).values(changes).where(matched, stage.c[_UPDATE], *chosen)
                    )
                chosen.append(stage.c[_UPDATE].is_not(true()))
            rows = select(*(stage.c[name] for name in names)).where(*chosen)
            conn.execute(insert(target).from_select(names, rows.order_by(stage.c[_NUMBER])))

        try:
            with conn.begin_nested():
                write()
            return
        except (IntegrityError, DataError) as exc:
            failure = exc
        numbers = conn.execute(select(stage.c[_NUMBER]).order_by(stage.c[_NUMBER])).scalars()
        _execute_sql(conn, "CREATE INDEX ON {} (_n)", stage.name)
        _bisect(conn, list(numbers), write, failure, lambda n, e: self._blame(conn, stage, n, e))

    def _blame(self, conn: Connection, stage: Table, number: int, exc: DBAPIError) -> None:
        """Record the database's reason for refusing one staged row."""
        diag = getattr(exc.orig, "diag", None)
        columns: tuple[str, ...] = ()
        if diag is not None and diag.column_name:
            columns = (diag.column_name,)
        elif diag is not None and diag.constraint_name:
            columns = self.spec.constraint_columns.get(diag.constraint_name, ())
        value = None
        if columns:
            row = conn.execute(
                select(*(stage.c[name] for name in columns)).where(stage.c[_NUMBER] == number)
            ).one()
            value = _show_key(list(row))
        reason = (diag.message_primary if diag is not None else None) or str(exc.orig)
        constraint = diag.constraint_name if diag is not None else None
        if constraint in self.spec.constraint_reasons:
            # A row check: the rule in words, and the constraint to look up.
            reason = f"{self.spec.constraint_reasons[constraint]} (check {constraint})"
        self.add(number, ", ".join(columns) or None, value, reason)


def _bisect(
    conn: Connection,
    numbers: list[int],
    write: Callable[[int, int], None],
    failure: DBAPIError,
    blame: Callable[[int, DBAPIError], None],
) -> None:
    """Write ``numbers`` range by range under savepoints; blame each row that fails alone."""

    def settle(low: int, high: int, exc: DBAPIError) -> None:
        if high - low == 1:
            blame(numbers[low], exc)
            return
        middle = (low + high) // 2
        for start, end in ((low, middle), (middle, high)):
            try:
                with conn.begin_nested():
                    write(numbers[start], numbers[end - 1])
            except (IntegrityError, DataError) as part_failure:
                settle(start, end, part_failure)

    settle(0, len(numbers), failure)


def _same(target: Table, stage: Table, name: str, nulls_distinct: bool) -> ColumnElement[bool]:
    # Plain equality where NULL cannot match, so the planner can hash-join; IS NOT DISTINCT
    # FROM only for nullable columns of a NULLS NOT DISTINCT key.
    if nulls_distinct or not target.c[name].nullable:
        return target.c[name] == stage.c[name]
    return target.c[name].is_not_distinct_from(stage.c[name])


def _show_key(values: Sequence[Any]) -> str:
    return ", ".join(show(value) for value in values)


def _staging_table(spec: TableSpec) -> Table:
    """A temporary table with the target's column types and no constraints, dropped on commit."""
    return Table(
        f"iwm_import_{spec.name}",
        MetaData(),
        Column(_NUMBER, BigInteger, nullable=False),
        *(Column(column.name, column.type) for column in spec.table.columns),
        Column(_UPDATE, Boolean),
        prefixes=["TEMPORARY"],
        postgresql_on_commit="DROP",
    )


def _execute_sql(conn: Connection, template: str, identifier: str) -> None:
    """Run a utility statement (ANALYZE, CREATE INDEX) on one quoted identifier."""
    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cursor:
        cursor.execute(sql.SQL(template).format(sql.Identifier(identifier)))
