"""What an import tells people: the bad rows, the report, the refusal and the reject file."""

from __future__ import annotations

import csv
import json
import os
import secrets
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from iwm_lab.exceptions import ImportRejected
from iwm_lab.importing.readers import ImportNeedsOption, Source
from iwm_lab.importing.tables import ERROR_FIELD, RAW_FIELD


@dataclass(frozen=True)
class RowError:
    """A bad row: where it is in the file, the column and value at fault, and why."""

    unit: str
    number: int
    column: str | None
    value: str | None
    reason: str

    @property
    def location(self) -> str:
        return f"{self.unit} {self.number}"

    def detail(self) -> str:
        """Column, value and reason, without the location."""
        parts = []
        if self.column is not None:
            parts.append(f"column {self.column}")
        if self.value is not None:
            parts.append(f"value {self.value}")
        return ", ".join(parts) + (": " if parts else "") + self.reason

    def __str__(self) -> str:
        separator = ", " if self.column is not None or self.value is not None else ": "
        return f"{self.location}{separator}{self.detail()}"


@dataclass(frozen=True)
class ImportReport:
    """What an import did. ``rejected`` counts rows; ``errors`` may hold several per row."""

    table: str
    path: Path
    format: str
    rows_read: int
    inserted: int
    updated: int
    rejected: int
    unknown_columns: tuple[str, ...]
    reject_path: Path | None
    errors: tuple[RowError, ...]
    # The rollups (iwm_lab.rollups) over this table, refreshed in the import's transaction.
    rollups_refreshed: tuple[str, ...] = ()

    def summary(self) -> str:
        """One line for people: counts, and where the rejects went."""
        rows = "row" if self.rows_read == 1 else "rows"
        text = (
            f"{self.table}: read {self.rows_read} {rows} from {self.path.name}: "
            f"{self.inserted} inserted, {self.updated} updated, {self.rejected} rejected"
        )
        if self.reject_path is not None and self.rejected:
            text += f" (written to {self.reject_path})"
        if self.rollups_refreshed:
            text += f"; refreshed {', '.join(self.rollups_refreshed)}"
        return text


def default_reject_path(path: Path, format: str) -> Path:
    """``movies.csv`` → ``movies.rejects.csv``; JSON and Parquet rejects are JSON lines."""
    suffix = ".csv" if format == "csv" else ".jsonl"
    return path.with_name(f"{path.stem}.rejects{suffix}")


def refusal(
    path: Path, errors: Sequence[RowError], rows_read: int, rejects: Path | None
) -> ImportRejected:
    """The error for a refused file: how many rows, the first error, where to see them all
    (or that ``skip_bad`` would load the good ones)."""
    bad_rows = len({error.number for error in errors})
    text = f"{path.name}: {bad_rows} of {rows_read} rows refused, nothing imported; {errors[0]}"
    if len(errors) > 1:
        text += f" (and {len(errors) - 1} more)"
    if rejects is not None:
        return ImportRejected(f"{text}; every bad row is in {rejects}", tuple(errors))
    return ImportNeedsOption(
        text,
        tuple(errors),
        option="skip_bad",
        remedy="to load the good rows and write every bad one to a reject file",
    )


class RejectFile:
    """Where the bad rows go, checked before anything is loaded and put in place whole.

    The rows are written to a temporary file in the same folder, then renamed over ``path``:
    a reader never sees half a file, and a failed write leaves an earlier file as it was.
    Creating the temporary file up front proves the folder writable before the import starts.
    """

    def __init__(self, path: Path, *, force: bool) -> None:
        self.path = path
        self.placed = False
        folder = path.parent
        if not folder.is_dir():
            what = "is not a folder" if folder.exists() else "does not exist"
            raise ImportNeedsOption(
                f"the folder of the reject file, {folder}, {what}; nothing imported",
                option="reject_path",
                remedy="naming a file in an existing folder",
            )
        try:
            mode = os.stat(path).st_mode
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise self._unwritable(exc) from None
        else:
            if not stat.S_ISREG(mode):
                raise ImportNeedsOption(
                    f"the reject file {path} is not a regular file; nothing imported",
                    option="reject_path",
                    remedy="naming another file",
                )
            if not force:
                raise ImportNeedsOption(
                    f"the reject file {path} exists already and is kept; nothing imported",
                    option="force",
                    remedy="to replace it",
                )
        self._temp = folder / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            # O_EXCL: never write through a file or link someone else put there.
            os.close(os.open(self._temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except OSError as exc:
            raise self._unwritable(exc) from None

    def _unwritable(self, exc: OSError) -> ImportRejected:
        return ImportRejected(
            f"cannot write the reject file {self.path}: {exc.strerror}; nothing imported"
        )

    def write(self, source: Source, errors: Sequence[RowError]) -> None:
        """Write the bad records and rename the file into place."""
        try:
            with self._temp.open("w", encoding="utf-8", newline="") as handle:
                write_rejects(source, errors, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(self._temp, self.path)
        except OSError as exc:
            raise self._unwritable(exc) from None
        self.placed = True

    def discard(self) -> None:
        """Remove the temporary file if it was not put in place."""
        if not self.placed:
            self._temp.unlink(missing_ok=True)


def write_rejects(source: Source, errors: Sequence[RowError], handle: TextIO) -> None:
    """Write the bad records as they were in the file, each with an ``_error`` field.

    A CSV row whose number of fields differs from the header's cannot be aligned with it: its
    data columns are left empty (so that, imported unfixed, it cannot load shifted values) and
    its text as it was in the file goes to an extra ``_raw`` column.
    """
    by_number: dict[int, list[RowError]] = {}
    for error in errors:
        by_number.setdefault(error.number, []).append(error)

    def message(number: int) -> str:
        found = by_number[number]
        return f"{found[0].location}: " + "; ".join(error.detail() for error in found)

    if source.format == "csv":
        fields = source.fields or []
        bad = [r for r in source.records() if r.number in by_number and r.text is not None]
        writer = csv.writer(handle)
        writer.writerow([*fields, ERROR_FIELD, *([RAW_FIELD] if bad else [])])
        for record in source.records():
            if record.number not in by_number:
                continue
            if record.text is not None:
                writer.writerow([*([""] * len(fields)), message(record.number), record.text])
            else:
                writer.writerow([*record.raw, message(record.number), *([""] if bad else [])])
        return
    for record in source.records():
        if record.number in by_number:
            raw = record.raw if isinstance(record.raw, dict) else {RAW_FIELD: record.raw}
            line = {**raw, ERROR_FIELD: message(record.number)}
            handle.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")
