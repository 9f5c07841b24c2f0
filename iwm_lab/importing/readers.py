"""Reading extracts record by record: CSV, JSON lines, a JSON array, Parquet.

Every reader streams (text in 1 MiB blocks, Parquet in record batches), so memory stays flat
in the size of the file, and can be read again from the start: the reject file is written by
a second pass that picks out the bad records as they were in the file.

Memory is bounded per record too: a line of text, a CSV record or a JSON array element longer
than :data:`MAX_RECORD_CHARS` refuses the file (one over-long line would otherwise be held
whole, several times over, while it is split and parsed), and a JSON record nested deeper
than :data:`MAX_JSON_DEPTH` is a bad record (Python's parser would fail with a
``RecursionError`` somewhere past a thousand levels; no column of the schema nests more than
three). Only regular files are read: a FIFO or a device (``/dev/zero``) is refused up front,
as it cannot be read twice and may never end.

Records are numbered as people look for them: CSV and JSON lines by the 1-based line of the
file where the record starts (the CSV header is line 1), a JSON array and Parquet by the
1-based position of the record.
"""

from __future__ import annotations

import codecs
import csv
import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iwm_lab.exceptions import ImportRejected, OptionNeeded

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
# The most text one record may take (a line, a CSV record over several lines, an element of a
# JSON array): 32 Mi characters. It leaves room for a TEXT value at its cap
# (conversion.MAX_TEXT_CHARS) with other columns beside it.
MAX_RECORD_CHARS = 32 << 20
MAX_JSON_DEPTH = 100

# The csv module refuses any field over 131,072 characters by default, whatever the column;
# field sizes are checked per column in conversion instead, and whole records here. The limit
# is process-wide, so it is only ever raised.
if csv.field_size_limit() < 2 * MAX_RECORD_CHARS:
    csv.field_size_limit(2 * MAX_RECORD_CHARS)


class ImportNeedsOption(OptionNeeded, ImportRejected):
    """A file refused that one of :func:`~iwm_lab.importing.import_file`'s keyword arguments
    (``option``: ``format``, ``encoding``, ``skip_bad``, ``reject_path``, ``force``) would let
    in; nothing was written."""


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
    # The record's text as it was in the file, kept only where ``raw`` cannot be written back
    # aligned (a CSV row with the wrong number of fields).
    text: str | None = None


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

    def refuse(
        self, message: str, *, option: str | None = None, remedy: str = ""
    ) -> ImportRejected:
        """The error for a file that cannot be read as a whole; with ``option``, the keyword
        argument that would let it be read (see :class:`ImportNeedsOption`)."""
        text = f"{self.path.name}: {message}; nothing imported"
        if option is None:
            return ImportRejected(text)
        return ImportNeedsOption(text, option=option, remedy=remedy)


def detect_format(path: Path, format: str | None) -> str:
    """The format asked for, or the one the file's extension names."""
    if format is not None:
        if format not in FORMATS:
            raise ImportRejected(f"unknown format {format!r}; use one of {', '.join(FORMATS)}")
        return format
    found = _EXTENSIONS.get(path.suffix.lower())
    if found is None:
        raise ImportNeedsOption(
            f"cannot tell the format of {path.name} from its extension",
            option="format",
            remedy=f"({', '.join(FORMATS)})",
        )
    return found


def check_regular_file(path: Path) -> None:
    """Refuse what is not a readable regular file, naming what it is instead."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise ImportRejected(f"no such file: {path}") from None
    except OSError as exc:
        raise ImportRejected(f"cannot read {path}: {exc.strerror}") from None
    if not stat.S_ISREG(mode):
        raise ImportRejected(f"{path} is not a regular file ({_file_kind(mode)}); nothing imported")
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise ImportRejected(f"cannot read {path}: {exc.strerror}") from None


def _file_kind(mode: int) -> str:
    kinds = (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((name for test, name in kinds if test(mode)), "a special file")


def open_source(path: Path, format: str, encoding: str) -> Source:
    """A :class:`Source` for the file; refuses a missing or special file, an unknown encoding."""
    check_regular_file(path)
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
        raise ImportRejected(
            f"Parquet text is always UTF-8: an encoding ({encoding}) applies to text files only"
        )
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
        f"{exc.reason} {bytes(bad)!r}",
        option="encoding",
        remedy="naming the file's encoding (e.g. latin-1, cp1252)",
    )


def _text_lines(source: Source) -> Iterator[str]:
    """The file's lines, each with its line ending (only "\\n" ends a line, as csv expects).

    A line longer than :data:`MAX_RECORD_CHARS` refuses the file once that much is read: the
    pieces of a line are kept in a list and joined once, so a long line costs its length, not
    its length times the number of blocks.
    """
    pieces: list[str] = []
    held = 0
    number = 1
    for block in _text_blocks(source):
        lines = block.split("\n")
        last = lines.pop()
        if lines:
            first = lines[0]
            held += len(first) + 1
            if held > MAX_RECORD_CHARS:
                raise _too_long(source, number)
            pieces.append(first)
            yield "".join(pieces) + "\n"
            number += 1
            for line in lines[1:]:
                if len(line) >= MAX_RECORD_CHARS:
                    raise _too_long(source, number)
                yield line + "\n"
                number += 1
            pieces.clear()
            held = 0
        if last:
            held += len(last)
            if held > MAX_RECORD_CHARS:
                raise _too_long(source, number)
            pieces.append(last)
    if pieces:
        yield "".join(pieces)


def _too_long(source: Source, line: int, what: str = "line") -> ImportRejected:
    return source.refuse(
        f"{what} {line} is longer than {MAX_RECORD_CHARS:,} characters, the most one record may "
        "take"
    )


def json_depth(value: Any) -> int:
    """How deeply a JSON value nests arrays and objects (a scalar is 0), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            depth += 1
            deepest = max(deepest, depth)
            if depth > MAX_JSON_DEPTH:
                return depth
            stack.extend(
                (child, depth) for child in (item.values() if isinstance(item, dict) else item)
            )
    return deepest


TOO_DEEP = f"nested more than {MAX_JSON_DEPTH} levels deep (arrays and objects within each other)"


def _record_problem(value: Any) -> str | None:
    if not isinstance(value, dict):
        return "not a JSON object"
    if json_depth(value) > MAX_JSON_DEPTH:
        return TOO_DEEP
    return None


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
        lines = _RecordLines(self)
        reader = csv.reader(lines, strict=True)
        width = len(self._header)
        last_line = 0
        try:
            next(reader)
            lines.take()
            last_line = reader.line_num
            for row in reader:
                number, last_line = last_line + 1, reader.line_num
                text = lines.take()
                if not row:
                    continue
                if len(row) != width:
                    problem = f"{len(row)} fields where the header has {width}"
                    yield RawRecord(number, {}, row, problem, text.rstrip("\r\n"))
                    continue
                yield RawRecord(number, dict(zip(self._header, row, strict=True)), row)
        except csv.Error as exc:
            raise self.refuse(f"line {last_line + 1}: {exc}") from None


class _RecordLines:
    """The lines fed to the csv reader, kept until the record they make is taken.

    A CSV record may span lines (quoted line breaks): its total length is capped here, where
    the line that makes it too long is read, before the csv module holds it.
    """

    def __init__(self, source: Source) -> None:
        self._source = source
        self._lines = _text_lines(source)
        self._taken: list[str] = []
        self._held = 0
        self._line = 0
        self._first = 1

    def __iter__(self) -> _RecordLines:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self._line += 1
        self._held += len(line)
        if self._held > MAX_RECORD_CHARS:
            raise _too_long(self._source, self._first, "the record starting on line")
        self._taken.append(line)
        return line

    def take(self) -> str:
        """The text of the record just read; the next record starts after it."""
        text = "".join(self._taken)
        self._taken.clear()
        self._held = 0
        self._first = self._line + 1
        return text


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
                yield RawRecord(
                    number, {}, text, f"not valid JSON ({exc.msg} at column {exc.colno})"
                )
                continue
            except RecursionError:
                yield RawRecord(number, {}, text, TOO_DEEP)
                continue
            found = _record_problem(value)
            if found is not None:
                # The line's text, not the value: a too-deep value cannot be written back.
                yield RawRecord(number, {}, value if found != TOO_DEEP else text, found)
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

        def more(at_least: int = 1) -> bool:
            """Append at least ``at_least`` characters (fewer at the end of the file)."""
            nonlocal buffer, pos, lines_before, exhausted
            added: list[str] = []
            size = 0
            while size < at_least:
                block = next(blocks, None)
                if block is None:
                    exhausted = True
                    break
                added.append(block)
                size += len(block)
            if not added:
                return False
            lines_before += buffer.count("\n", 0, pos)
            buffer, pos = buffer[pos:] + "".join(added), 0
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
            hint = " (one object per line is the jsonl format)" if first == "{" else ""
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
                    held = len(buffer) - pos
                    # Doubling what is held keeps the re-parsing of a long record linear.
                    if not exhausted and held <= MAX_RECORD_CHARS and more(held):
                        continue
                    if not exhausted:
                        raise _too_long(self, number, "record") from None
                    raise self.refuse(
                        f"record {number} (line {line_at(exc.pos)}) is not valid JSON: {exc.msg}"
                    ) from None
                except RecursionError:
                    # Where such a record ends cannot be found without parsing it: the rest of
                    # the array cannot be read, so the file is refused even with --skip-bad.
                    raise self.refuse(
                        f"record {number} (line {line_at(pos)}) is {TOO_DEEP}"
                    ) from None
                # A value that runs to the end of the buffer (a number) may go on in the next.
                if end == len(buffer) and not exhausted and more():
                    continue
                break
            if end - pos > MAX_RECORD_CHARS:
                raise _too_long(self, number, "record")
            problem = _record_problem(value)
            if problem is None:
                yield RawRecord(number, value, value)
            else:
                # A too-deep value cannot be written back; its text can.
                raw = value if problem != TOO_DEEP else buffer[pos:end]
                yield RawRecord(number, {}, raw, problem)
            pos = end
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
