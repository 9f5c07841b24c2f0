"""From raw extract values to values of a target column, or the reason why not.

Decisions, each because a real extract gets it wrong somewhere:

* Text files are read as text, never type-guessed: a title ``1917`` stays the string ``"1917"``
  and ``year`` stays ``"1917"``, not ``"1917.0"``. Typed sources (JSON, Parquet) may carry a
  number where the schema wants text; an integral float there (Parquet's ``1917.0`` for an int
  column with gaps) is written without its ``.0``.
* An empty or whitespace-only value is NULL, in text columns too (CSV cannot tell "missing"
  from ""), and NULL even where the column has a default: leave the column out of the file to
  get the defaults. In a required column (NOT NULL, no default) it rejects the row. Markers
  such as ``NULL`` or ``N/A`` are not guessed: they are text in a text column and rejected
  elsewhere. Non-empty text is kept as it is, surrounding spaces included.
* A float NaN (JSON's non-standard ``NaN``, a Parquet float) is not a value in any column,
  nullable or not: it rejects the row, saying so. NaN is what a failed computation leaves as
  often as a missing value, and a file that means "missing" can say null. (pandas writes its
  missing values to Parquet as nulls, which are empty values as above.)
* Text is capped by the column's type: ``VARCHAR(n)`` at n characters, TEXT and JSON at
  :data:`MAX_TEXT_CHARS` (10 Mi characters), so that one value cannot take unbounded memory.
* Integers accept ``1234``, ``1,234`` (strict thousands grouping) and ``1234.0``; not ``12a``
  nor ``12.5``. Floats refuse a decimal comma (``7,5`` is guessed neither as 7.5 nor as 75).
* Booleans: true/false, t/f, yes/no, y/n, 1/0, in any case.
* Timestamps accept ISO 8601 (``2023-07-21``, ``2023-07-21T10:00:00``, a space instead of
  ``T``, fractions, ``Z``/offsets, converted to UTC), ``2023/07/21``, ``21 Jul 2023`` and
  ``Jul 21, 2023`` (full month names too). Numeric day/month forms (``03/04/2023``, even
  ``21/07/2023``) are rejected: whether they are day- or month-first cannot be told from one
  value, and accepting only the unambiguous ones would silently load part of a file. Two-digit
  years and bare numbers (epoch seconds or milliseconds?) are rejected too.
* Dates (DATE columns: ceremony and festival days, box office weekends) take the same forms
  without a time of day; a time other than midnight is refused rather than dropped, since an
  extract that carries one may mean another day in another time zone.
* JSON columns (JSONB ``trivia``/``timeline``, and the TEXT columns documented as JSON) must
  parse (NaN and Infinity are not JSON) and have the documented shape: an array of objects
  for trivia, timeline, content_media and a quiz attempt's answers, of strings for hashtags,
  media_urls and a quiz question's options, an object for reactions_json and the audit log's
  details. JSON given as text is stored as that text.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from enum import StrEnum
from typing import Any

from iwm_lab.importing.readers import MAX_JSON_DEPTH, TOO_DEEP, json_depth

# The longest TEXT (or JSON) value an import takes, in characters.
MAX_TEXT_CHARS = 10 << 20


class BadValue(ValueError):
    """A value the column cannot take; the message is the reason, for the report."""


class Kind(StrEnum):
    """How a column's values are converted, from its SQL type."""

    INTEGER = "integer"
    BIGINT = "bigint"
    FLOAT = "float"
    BOOLEAN = "boolean"
    TIMESTAMP = "timestamp"
    DATE = "date"
    STRING = "string"
    JSON = "json"


# --- up-front mirrors of the CHECK constraints ------------------------------------------------


@dataclass(frozen=True)
class OneOf:
    """``column IN (...)``: a closed value set."""

    values: tuple[str, ...]

    def check(self, value: Any) -> None:
        if value not in self.values:
            raise BadValue("not one of " + ", ".join(self.values))


@dataclass(frozen=True)
class Between:
    """``column BETWEEN low AND high``, inclusive."""

    low: int
    high: int

    def check(self, value: Any) -> None:
        if not self.low <= value <= self.high:
            raise BadValue(f"outside the range {self.low} to {self.high}")


@dataclass(frozen=True)
class Matches:
    """``column ~ pattern``; ``meaning`` says it in words for the report."""

    pattern: str
    meaning: str

    def check(self, value: Any) -> None:
        if re.search(self.pattern, value) is None:
            raise BadValue(f"not {self.meaning}")


Rule = OneOf | Between | Matches


class Shape(StrEnum):
    """The JSON a column documents, worded for the report."""

    ARRAY_OF_OBJECTS = "a JSON array of objects"
    ARRAY_OF_STRINGS = "a JSON array of strings"
    OBJECT = "a JSON object"


# --- converters --------------------------------------------------------------------------------

_INT_BOUNDS = {Kind.INTEGER: (-(2**31), 2**31 - 1), Kind.BIGINT: (-(2**63), 2**63 - 1)}
_DIGITS = r"(?:\d{1,3}(?:,\d{3})+|\d+)"
_INT_TEXT = re.compile(rf"[+-]?{_DIGITS}(?:\.0*)?")
_FLOAT_TEXT = re.compile(rf"[+-]?(?:{_DIGITS}(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_DECIMAL_COMMA = re.compile(r"[+-]?\d+,\d+")


def _to_int(value: Any, kind: Kind) -> int:
    if isinstance(value, bool):
        raise BadValue("a boolean, not an integer")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float | Decimal):
        if not math.isfinite(value) or value != int(value):
            raise BadValue("not a whole number")
        number = int(value)
    elif isinstance(value, str):
        text = value.strip()
        if text.isascii() and text.isdigit():
            number = int(text)
        elif _INT_TEXT.fullmatch(text) is None:
            whole = _FLOAT_TEXT.fullmatch(text) is not None
            raise BadValue("not a whole number" if whole else "not an integer")
        else:
            number = int(text.split(".")[0].replace(",", ""))
    else:
        raise BadValue(f"not an integer ({type(value).__name__})")
    low, high = _INT_BOUNDS[kind]
    if not low <= number <= high:
        raise BadValue(f"out of range for {kind.value.upper()} ({low} to {high})")
    return number


def _to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise BadValue("a boolean, not a number")
    if isinstance(value, int | float | Decimal):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if _FLOAT_TEXT.fullmatch(text) is None:
            if _DECIMAL_COMMA.fullmatch(text):
                raise BadValue("decimal comma: write the number with a point")
            raise BadValue("not a number")
        number = float(text.replace(",", ""))
    else:
        raise BadValue(f"not a number ({type(value).__name__})")
    if not math.isfinite(number):
        raise BadValue("not a finite number")
    return number


_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise BadValue("not a boolean (true/false, yes/no, t/f, 1/0)")


_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}
_ISO_DATE = re.compile(
    r"(?P<y>\d{4})(?P<sep>[-/])(?P<m>\d{1,2})(?P=sep)(?P<d>\d{1,2})"
    r"(?:[T ](?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.(?P<f>\d+))?)?)?"
    r"\s*(?P<tz>Z|[+-]\d{2}(?::?\d{2})?)?",
    re.IGNORECASE,
)
_DAY_MONTH_NAME = re.compile(
    r"(?P<d>\d{1,2})(?:st|nd|rd|th)?[ -](?P<mon>[a-z]+)\.?,?[ -](?P<y>\d{4})", re.IGNORECASE
)
_MONTH_NAME_DAY = re.compile(
    r"(?P<mon>[a-z]+)\.? (?P<d>\d{1,2})(?:st|nd|rd|th)?,? (?P<y>\d{4})", re.IGNORECASE
)
_NUMERIC_DAY_MONTH = re.compile(r"\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}")


def _offset(text: str) -> timezone:
    if text.upper() == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    minutes = int(digits[:2]) * 60 + int(digits[2:] or 0)
    return timezone(sign * timedelta(minutes=minutes))


def _parse_timestamp(text: str) -> datetime:
    try:
        if match := _ISO_DATE.fullmatch(text):
            parts = match.groupdict()
            moment = datetime(
                int(parts["y"]),
                int(parts["m"]),
                int(parts["d"]),
                int(parts["H"] or 0),
                int(parts["M"] or 0),
                int(parts["S"] or 0),
                int((parts["f"] or "0")[:6].ljust(6, "0")),
            )
            if parts["tz"]:
                # The columns are timestamp without time zone and the platform stores UTC.
                moment = moment.replace(tzinfo=_offset(parts["tz"])).astimezone(UTC)
                moment = moment.replace(tzinfo=None)
            return moment
        if match := _DAY_MONTH_NAME.fullmatch(text) or _MONTH_NAME_DAY.fullmatch(text):
            month = _MONTHS.get(match["mon"].lower())
            if month is None:
                raise BadValue(f"unknown month name {match['mon']!r}")
            return datetime(int(match["y"]), month, int(match["d"]))
    except ValueError as exc:
        if isinstance(exc, BadValue):
            raise
        raise BadValue(f"not a real date or time ({exc})") from None
    if _NUMERIC_DAY_MONTH.fullmatch(text):
        raise BadValue(
            "ambiguous day/month order (03/04/2023 is 3 April or March 4): "
            "write dates as YYYY-MM-DD, YYYY/MM/DD, '21 Jul 2023' or 'Jul 21, 2023'"
        )
    raise BadValue(
        "not a date (accepted: YYYY-MM-DD[THH:MM[:SS]], YYYY/MM/DD, '21 Jul 2023', 'Jul 21, 2023')"
    )


def _to_timestamp(value: Any) -> datetime:
    if isinstance(value, datetime):
        moment: datetime = value
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC).replace(tzinfo=None)
        return moment
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        return _parse_timestamp(value.strip())
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise BadValue("a number, not a date (epoch seconds or milliseconds cannot be told)")
    raise BadValue(f"not a date ({type(value).__name__})")


_ZONE_IN_DATE = "a time zone in a date column: give the calendar day alone (YYYY-MM-DD)"


def _to_date(value: Any) -> date:
    if isinstance(value, str):
        # Refused before the conversion to UTC could move the day.
        match = _ISO_DATE.fullmatch(value.strip())
        if match is not None and match["tz"]:
            raise BadValue(_ZONE_IN_DATE)
    elif isinstance(value, datetime):
        if value.tzinfo is not None:
            raise BadValue(_ZONE_IN_DATE)
    elif isinstance(value, date):
        return value
    moment = _to_timestamp(value)
    if moment.time() != time():
        raise BadValue(
            f"a time of day ({moment.time().isoformat()}) in a date column: give the calendar "
            "day alone (YYYY-MM-DD)"
        )
    return moment.date()


def _to_string(value: Any, length: int | None) -> str:
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool):
        raise BadValue("a boolean, not text")
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, float | Decimal):
        if not math.isfinite(value):
            raise BadValue("not a finite number, nor text")
        # Typed sources turn an int column with gaps into floats: 1917.0 is the year "1917".
        text = str(int(value)) if value == int(value) else str(value)
    else:
        raise BadValue(f"not text ({type(value).__name__})")
    _check_length(text, length)
    if "\x00" in text:
        raise BadValue("contains a NUL character, which PostgreSQL text cannot hold")
    return text


def _check_length(text: str, length: int | None) -> None:
    if length is not None and len(text) > length:
        raise BadValue(f"{len(text)} characters, the column holds at most {length}")
    if len(text) > MAX_TEXT_CHARS:
        raise BadValue(
            f"{len(text):,} characters, more than the {MAX_TEXT_CHARS:,} an imported text "
            "value may have"
        )


def _reject_constant(name: str) -> Any:
    # json accepts NaN/Infinity, which neither PostgreSQL's jsonb nor other readers do.
    raise BadValue(f"not valid JSON ({name} is not a JSON value)")


def _to_json(value: Any, shape: Shape, *, jsonb: bool) -> str:
    if isinstance(value, str):
        _check_length(value, None)
        try:
            parsed = json.loads(value, parse_constant=_reject_constant)
        except json.JSONDecodeError as exc:
            raise BadValue(f"not valid JSON ({exc.msg} at character {exc.pos + 1})") from None
        except RecursionError:
            raise BadValue(TOO_DEEP) from None
        if json_depth(parsed) > MAX_JSON_DEPTH:
            raise BadValue(TOO_DEEP)
        text = value
    elif isinstance(value, list | dict):
        parsed = value
        # Parquet structs may hold dates or decimals: written as their text. NaN is refused:
        # jsonb cannot hold it.
        try:
            text = json.dumps(value, ensure_ascii=False, default=str, allow_nan=False)
        except ValueError:
            raise BadValue("not valid JSON (NaN or Infinity is not a JSON value)") from None
        _check_length(text, None)
    else:
        raise BadValue(f"not {shape.value} ({type(value).__name__})")
    if shape is Shape.OBJECT:
        good = isinstance(parsed, dict)
    else:
        item_type = dict if shape is Shape.ARRAY_OF_OBJECTS else str
        good = isinstance(parsed, list) and all(isinstance(item, item_type) for item in parsed)
    if not good:
        raise BadValue(f"not {shape.value}")
    if jsonb and "\\u0000" in text:
        raise BadValue("contains \\u0000, which PostgreSQL's jsonb cannot hold")
    return text


def is_empty(value: Any) -> bool:
    """Whether a raw value counts as missing: None or blank text (a NaN does not)."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return False


def is_nan(value: Any) -> bool:
    """Whether a raw value is a float (or Decimal) NaN."""
    return isinstance(value, float | Decimal) and value != value


# --- columns ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnSpec:
    """What one target column accepts."""

    name: str
    kind: Kind
    required: bool
    length: int | None = None
    shape: Shape | None = None
    jsonb: bool = False
    rules: tuple[Rule, ...] = ()

    def convert(self, value: Any) -> Any:
        """The value for COPY, ``None`` for an empty one; raises :class:`BadValue`."""
        if is_nan(value):
            raise BadValue(
                f"NaN is not a value for column {self.name} (a missing value is null or empty)"
            )
        if is_empty(value):
            if self.required:
                raise BadValue("required (NOT NULL, no default) but empty")
            return None
        converted: Any
        match self.kind:
            case Kind.INTEGER | Kind.BIGINT:
                converted = _to_int(value, self.kind)
            case Kind.FLOAT:
                converted = _to_float(value)
            case Kind.BOOLEAN:
                converted = _to_bool(value)
            case Kind.TIMESTAMP:
                converted = _to_timestamp(value)
            case Kind.DATE:
                converted = _to_date(value)
            case Kind.JSON:
                assert self.shape is not None
                converted = _to_json(value, self.shape, jsonb=self.jsonb)
            case Kind.STRING:
                converted = _to_string(value, self.length)
        for rule in self.rules:
            rule.check(converted)
        return converted


def show(value: Any, limit: int = 60) -> str:
    """A value as an error message shows it: quoted text, truncated."""
    text = repr(value) if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"
