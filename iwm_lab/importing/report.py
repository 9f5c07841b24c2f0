"""What an import tells people: the bad rows, the report, the refusal and the reject file."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from iwm_lab.importing.readers import Source
from iwm_lab.importing.tables import ERROR_FIELD


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


def refusal_message(
    path: Path, errors: Sequence[RowError], rows_read: int, rejects: Path | None
) -> str:
    """One line for a refused file: how many rows, the first error, where to see them all."""
    bad_rows = len({error.number for error in errors})
    text = f"{path.name}: {bad_rows} of {rows_read} rows refused, nothing imported; {errors[0]}"
    if len(errors) > 1:
        text += f" (and {len(errors) - 1} more)"
    if rejects is not None:
        return f"{text}; every bad row is in {rejects}"
    return f"{text}; --reject-file PATH lists every bad row, --skip-bad loads the good ones"


def write_rejects(source: Source, errors: Sequence[RowError], path: Path) -> None:
    """Write the bad records as they were in the file, each with an ``_error`` field (UTF-8)."""
    by_number: dict[int, list[RowError]] = {}
    for error in errors:
        by_number.setdefault(error.number, []).append(error)

    def message(number: int) -> str:
        found = by_number[number]
        return f"{found[0].location}: " + "; ".join(error.detail() for error in found)

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        if source.format == "csv":
            writer = csv.writer(handle)
            writer.writerow([*(source.fields or []), ERROR_FIELD])
            for record in source.records():
                if record.number in by_number:
                    writer.writerow([*record.raw, message(record.number)])
            return
        for record in source.records():
            if record.number in by_number:
                raw = record.raw if isinstance(record.raw, dict) else {"_raw": record.raw}
                line = {**raw, ERROR_FIELD: message(record.number)}
                handle.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")
