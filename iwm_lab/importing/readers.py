"""Reading extracts record by record: CSV, JSON lines, a JSON array, Parquet.

Every reader streams (text in 1 MiB blocks, Parquet in record batches), so memory stays flat
in the size of the file, and can be read again from the start: the reject file is written by
a second pass that picks out the bad records as they were in the file.

Records are numbered as people look for them: CSV and JSON lines by the 1-based line of the
file where the record starts (the CSV header is line 1), a JSON array and Parquet by the
1-based position of the record.
"""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iwm_lab.exceptions import ImportRejected

FORMATS: tuple[str, ...] = ("csv", "jsonl", "json", "parquet")
_EXTENSIONS = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_BLOCK = 1 << 20
_PARQUET_BATCH = 10_000
# A JSON array record still not complete after this much text is taken as broken, rather than
# reading the rest of a large file into memory looking for its end.
_MAX_RECORD = 64 << 20


@dataclass(frozen=True)
class RawRecord:
    """One record as read: its number, its fields by the file's names, and how to write it back.

    ``raw`` is what a reject file repeats (the CSV fields, the JSON object, or the text of a
    JSON line that did not parse); ``problem`` says why the record as a whole is unusable.
    """

    number: int
    values: dict[str, Any]
    raw: Any
    problem: str | None = None


class Source:
    """A file to import, in one format; ``records()`` may be called more than once."""

    format: str = ""
    unit: str = "line"

    def __init__(self, path: Path, encoding: str) -> None:
        self.path = path
        self.encoding = encoding

    @property
    def fields(self) -> list[str] | None:
        """The file's column names when the format declares them up front (CSV, Parquet)."""
        return None

    def records(self) -> Iterator[RawRecord]:
        """Every record of the file, in order."""
        raise NotImplementedError

    def refuse(self, message: str) -> ImportRejected:
        """The error for a file that cannot be read as a whole."""
        return ImportRejected(f"{self.path.name}: {message}; nothing imported")


def detect_format(path: Path, format: str | None) -> str:
    """The format asked for, or the one the file's extension names."""
    if format is not None:
        if format not in FORMATS:
            raise ImportRejected(f"unknown format {format!r}; use one of {', '.join(FORMATS)}")
        return format
    found = _EXTENSIONS.get(path.suffix.lower())
    if found is None:
        raise ImportRejected(
            f"cannot tell the format of {path.name} from its extension; "
            f"pass --format ({', '.join(FORMATS)})"
        )
    return found


def open_source(path: Path, format: str, encoding: str) -> Source:
    """A :class:`Source` for the file; refuses a missing file or an unknown encoding."""
    if not path.is_file():
        raise ImportRejected(f"no such file: {path}")
    try:
        codec = codecs.lookup(encoding)
    except LookupError:
        raise ImportRejected(f"unknown encoding {encoding!r}") from None
    source_class: type[Source] = {
        "csv": CsvSource,
        "jsonl": JsonLinesSource,
        "json": JsonArraySource,
        "parquet": ParquetSource,
    }[format]
    if source_class is ParquetSource and codec.name != "utf-8":
        raise ImportRejected("--encoding applies to text files; Parquet text is always UTF-8")
    return source_class(path, encoding)


# --- text ----------------------------------------------------------------------------------


def _text_blocks(source: Source) -> Iterator[str]:
    """The file decoded block by block; a decode error names its line and byte offset."""
    codec = codecs.lookup(source.encoding)
    if codec.name == "utf-8":
        # A byte order mark is no part of the first column's name.
        codec = codecs.lookup("utf-8-sig")
    decoder = codec.incrementaldecoder("strict")
    offset = 0
    with source.path.open("rb") as handle:
        while True:
            block = handle.read(_BLOCK)
            offset += len(block)
            try:
                text = decoder.decode(block, final=not block)
            except UnicodeDecodeError as exc:
                # exc.object is the decoder's view of the input: bytes held back from the
                # previous block and this one, less a BOM. Its end is where the block ends.
                position = offset - len(exc.object) + exc.start
                raise _decode_error(source, position, exc) from None
            if text:
                yield text
            if not block:
                return


def _decode_error(source: Source, position: int, exc: UnicodeDecodeError) -> ImportRejected:
    with source.path.open("rb") as handle:
        before = handle.read(position)
    line = before.count(b"\n") + 1
    bad = exc.object[exc.start : exc.end]
    return source.refuse(
        f"line {line} (byte {position}) is not valid {source.encoding}: "
        f"{exc.reason} {bytes(bad)!r}; pass the file's encoding with --encoding "
        "(e.g. latin-1, cp1252)"
    )


def _text_lines(source: Source) -> Iterator[str]:
    """The file's lines, each with its line ending (only "\\n" ends a line, as csv expects)."""
    carry = ""
    for block in _text_blocks(source):
        lines = (carry + block).split("\n")
        carry = lines.pop()
        for line in lines:
            yield line + "\n"
    if carry:
        yield carry


class CsvSource(Source):
    """Comma-separated text with a header line; every value is read as text."""

    format = "csv"
    unit = "line"

    def __init__(self, path: Path, encoding: str) -> None:
        super().__init__(path, encoding)
        reader = csv.reader(_text_lines(self), strict=True)
        try:
            header = next(reader, None)
        except csv.Error as exc:
            raise self.refuse(f"line {reader.line_num}: {exc}") from None
        if not header:
            raise self.refuse("empty file: expected a header line naming the columns")
        self._header = header

    @property
    def fields(self) -> list[str]:
        return list(self._header)

    def records(self) -> Iterator[RawRecord]:
        reader = csv.reader(_text_lines(self), strict=True)
        width = len(self._header)
        last_line = 0
        try:
            next(reader)
            last_line = reader.line_num
            for row in reader:
                number, last_line = last_line + 1, reader.line_num
                if not row:
                    continue
                problem = None
                if len(row) != width:
                    problem = f"{len(row)} fields where the header has {width}"
                yield RawRecord(number, dict(zip(self._header, row, strict=False)), row, problem)
        except csv.Error as exc:
            raise self.refuse(f"line {last_line + 1}: {exc}") from None


class JsonLinesSource(Source):
    """One JSON object per line; blank lines are skipped."""

    format = "jsonl"
    unit = "line"

    def records(self) -> Iterator[RawRecord]:
        for number, line in enumerate(_text_lines(self), start=1):
            if not line.strip():
                continue
            text = line.rstrip("\r\n")
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                problem = f"not valid JSON ({exc.msg} at column {exc.colno})"
                yield RawRecord(number, {}, text, problem)
                continue
            if not isinstance(value, dict):
                yield RawRecord(number, {}, value, "not a JSON object")
                continue
            yield RawRecord(number, value, value)


class JsonArraySource(Source):
    """A JSON array of objects, parsed element by element rather than loaded whole."""

    format = "json"
    unit = "record"

    def records(self) -> Iterator[RawRecord]:
        blocks = _text_blocks(self)
        decoder = json.JSONDecoder()
        buffer, pos = "", 0
        lines_before = 0  # newlines in the text already dropped from the buffer
        exhausted = False

        def more() -> bool:
            nonlocal buffer, pos, lines_before, exhausted
            block = next(blocks, None)
            if block is None:
                exhausted = True
                return False
            lines_before += buffer.count("\n", 0, pos)
            buffer, pos = buffer[pos:] + block, 0
            return True

        def next_char() -> str:
            nonlocal pos
            while True:
                while pos < len(buffer) and buffer[pos] in " \t\r\n":
                    pos += 1
                if pos < len(buffer) or not more():
                    return buffer[pos] if pos < len(buffer) else ""

        def line_at(index: int) -> int:
            return lines_before + buffer.count("\n", 0, index) + 1

        first = next_char()
        if first != "[":
            hint = " (one object per line is --format jsonl)" if first == "{" else ""
            raise self.refuse(f"expected a JSON array of objects{hint}")
        pos += 1
        number = 0
        while True:
            char = next_char()
            if char == "]" and number == 0:
                pos += 1
                break
            if char == "":
                raise self.refuse(f"line {line_at(pos)}: the array is not closed")
            number += 1
            while True:
                try:
                    value, end = decoder.raw_decode(buffer, pos)
                except json.JSONDecodeError as exc:
                    if not exhausted and len(buffer) - pos < _MAX_RECORD and more():
                        continue
                    raise self.refuse(
                        f"record {number} (line {line_at(exc.pos)}) is not valid JSON: {exc.msg}"
                    ) from None
                # A value that runs to the end of the buffer (a number) may go on in the next.
                if end == len(buffer) and not exhausted and more():
                    continue
                break
            pos = end
            if isinstance(value, dict):
                yield RawRecord(number, value, value)
            else:
                yield RawRecord(number, {}, value, "not a JSON object")
            char = next_char()
            if char == "]":
                pos += 1
                break
            if char == "":
                raise self.refuse(f"line {line_at(pos)}: the array is not closed")
            if char != ",":
                raise self.refuse(f"line {line_at(pos)}: expected ',' or ']' after record {number}")
            pos += 1
        if next_char() != "":
            raise self.refuse(f"line {line_at(pos)}: unexpected content after the array")


class ParquetSource(Source):
    """A Parquet file, read in record batches; values keep their Parquet types."""

    format = "parquet"
    unit = "record"

    def __init__(self, path: Path, encoding: str) -> None:
        super().__init__(path, encoding)
        self._fields = self._open().schema_arrow.names

    def _open(self) -> Any:
        # pyarrow is imported only when a Parquet file is read: it is a heavy import.
        import pyarrow
        import pyarrow.parquet

        try:
            return pyarrow.parquet.ParquetFile(self.path)
        except (pyarrow.ArrowException, OSError) as exc:
            raise self.refuse(f"not a readable Parquet file ({exc})") from None

    @property
    def fields(self) -> list[str]:
        return list(self._fields)

    def records(self) -> Iterator[RawRecord]:
        number = 0
        for batch in self._open().iter_batches(batch_size=_PARQUET_BATCH):
            for row in batch.to_pylist():
                number += 1
                yield RawRecord(number, row, row)
