"""Report parameters: checked against the notebook's ``parameters`` cell before any kernel starts.

papermill's :func:`~papermill.inspection.inspect_notebook` reads the cell tagged
``parameters``. A parameter's type comes from its annotation (``min_reviews: int = 5``), else
from its default's literal (``min_reviews = 5``), else from the schedule's value. Values from
``schedule.toml`` must already have that type; values from the command line (text) are
converted to it. Unknown names and wrong types are :class:`ReportParameterError`.

Dates travel as ISO strings (``as_of: str = "2024-06-30"``): papermill writes parameters as
Python literals, and a ``date`` is not one.

**Bounds**, checked before anything else: a text value holds at most :data:`MAX_TEXT`
characters, a list at most :data:`MAX_ITEMS` items, a whole number fits in 64 bits
(PostgreSQL's ``bigint``), a decimal number is finite, and a command-line value is at most
:data:`MAX_COMMAND_LINE` characters. A value past them is one error line, shown shortened:
a 100 KB value once ran for a minute and ended in a file name too long for the disk.
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from iwm_lab.exceptions import ReportParameterError

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}
_NULL = {"none", "null"}
_KINDS = {"str", "int", "float", "bool", "list", "dict"}
# A value that carries credentials: they belong in IWM_DATABASE_URL, never in a notebook.
_CREDENTIALS = re.compile(r"\w+://[^/\s:@]+:[^@\s]+@")
MAX_TEXT = 1_000
MAX_ITEMS = 1_000
MAX_COMMAND_LINE = 64_000
_BIGINT = 2**63
_SHOWN = 60


@dataclass(frozen=True)
class ParamType:
    """What a notebook parameter accepts: a kind (``any`` when unknown) and whether None."""

    kind: str = "any"
    nullable: bool = False
    item: str = "any"  # element kind of a list

    def describe(self) -> str:
        name = f"list[{self.item}]" if self.kind == "list" and self.item != "any" else self.kind
        return f"{name} or None" if self.nullable else name


@dataclass(frozen=True)
class NotebookParameter:
    name: str
    type: ParamType
    default: str  # the default's source text, as written in the cell
    help: str


def notebook_parameters(notebook: Path) -> dict[str, NotebookParameter]:
    """The parameters a notebook declares in its cell tagged ``parameters`` (may be empty)."""
    from papermill.inspection import inspect_notebook

    if not notebook.is_file():
        raise ReportParameterError(f"notebook not found: {notebook}")
    try:
        found = inspect_notebook(str(notebook))
    except Exception as exc:  # nbformat and papermill raise many kinds for a damaged file
        raise ReportParameterError(
            f"notebook {notebook} cannot be read: {type(exc).__name__}"
        ) from None
    return {
        name: NotebookParameter(
            name,
            _param_type(info.get("inferred_type_name"), info.get("default")),
            str(info.get("default")),
            str(info.get("help") or ""),
        )
        for name, info in found.items()
    }


def _param_type(annotation: str | None, default: str | None) -> ParamType:
    text = (annotation or "None").replace(" ", "")
    nullable = False
    optional = re.fullmatch(r"(?:typing\.)?Optional\[(.+)\]", text)
    if optional:
        text, nullable = optional.group(1), True
    parts = text.split("|")
    if "None" in parts and len(parts) > 1:
        parts.remove("None")
        nullable = True
        text = "|".join(parts)
    generic = re.fullmatch(r"(?:typing\.)?([Ll]ist)\[(\w+)\]", text)
    if generic:
        item = generic.group(2)
        return ParamType("list", nullable, item if item in _KINDS else "any")
    if text in _KINDS:
        return ParamType(text, nullable)
    # No usable annotation: the type of the default's literal, when it is one.
    try:
        value = ast.literal_eval(default) if default is not None else None
    except (ValueError, SyntaxError):
        return ParamType()
    if value is None:
        return ParamType(nullable=True)
    return _type_of(value, nullable)


def _type_of(value: Any, nullable: bool = False) -> ParamType:
    if isinstance(value, bool):
        return ParamType("bool", nullable)
    for kind in (int, float, str, dict):
        if isinstance(value, kind):
            return ParamType(kind.__name__, nullable)
    if isinstance(value, list | tuple):
        items = {_type_of(v).kind for v in value}
        return ParamType("list", nullable, items.pop() if len(items) == 1 else "any")
    if isinstance(value, date):
        return ParamType("str", nullable)
    return ParamType()


def resolve_parameters(
    label: str,
    notebook: Path,
    scheduled: Mapping[str, Any],
    overrides: Mapping[str, str] | None = None,
    declared: Mapping[str, NotebookParameter] | None = None,
) -> dict[str, Any]:
    """The parameters to inject: the schedule's values, then command-line ``overrides`` (text).

    Raises :class:`ReportParameterError` naming the report (``label``) and the parameter
    for a name the notebook does not declare, a value of the wrong type, or a value that
    carries credentials. ``declared`` saves reading the notebook again.
    """
    if declared is None:
        declared = notebook_parameters(notebook)
    where = f"report {label!r} ({notebook.name})"
    resolved: dict[str, Any] = {}
    for source, values in (("schedule.toml", scheduled), ("-p", overrides or {})):
        for name, value in values.items():
            if name not in declared:
                hint = (
                    f"the notebook's parameters are: {', '.join(sorted(declared))}"
                    if declared
                    else "the notebook has no cell tagged 'parameters'"
                )
                raise ReportParameterError(
                    f"{where}: unknown parameter {shown(name)} (from {source}); {hint}"
                )
            wanted = declared[name].type
            if wanted.kind == "any" and name in scheduled and source == "-p":
                wanted = _type_of(scheduled[name])
            if source == "-p":
                text = str(value)
                # Before converting: int() of 100,000 digits alone takes a while.
                limit = None if wanted.kind in ("list", "dict") else MAX_TEXT
                if len(text) > (limit or MAX_COMMAND_LINE):
                    raise ReportParameterError(
                        f"{where}: parameter {name!r} is {len(text):,} characters long on the "
                        f"command line; at most {limit or MAX_COMMAND_LINE:,} are taken"
                    )
                resolved[name] = _from_text(where, name, text, wanted)
            else:
                resolved[name] = _checked(where, name, value, wanted)
            _check_bounds(where, name, resolved[name])
    for name, value in resolved.items():
        if any(isinstance(v, str) and _CREDENTIALS.search(v) for v in _flat(value)):
            raise ReportParameterError(
                f"{where}: parameter {name!r} holds a URL with a password; credentials reach "
                "the notebook through IWM_DATABASE_URL, never through parameters"
            )
    return resolved


def shown(value: Any, limit: int = _SHOWN) -> str:
    """``repr(value)``, shortened for an error line: the value may be 100 KB."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[: limit - 1]}… ({len(str(value)):,} characters)"


def _check_bounds(where: str, name: str, value: Any, depth: int = 0) -> None:
    def refuse(problem: str) -> ReportParameterError:
        return ReportParameterError(f"{where}: parameter {name!r} {problem}")

    if isinstance(value, str) and len(value) > MAX_TEXT:
        raise refuse(f"is {len(value):,} characters long; at most {MAX_TEXT:,} are taken")
    if isinstance(value, int) and not isinstance(value, bool) and not -_BIGINT <= value < _BIGINT:
        raise refuse(f"must be between {-_BIGINT:,} and {_BIGINT - 1:,} (a 64-bit integer)")
    if isinstance(value, float) and not math.isfinite(value):
        raise refuse(f"must be a finite number, got {value!r}")
    if isinstance(value, list | dict):
        if len(value) > MAX_ITEMS:
            raise refuse(f"has {len(value):,} items; at most {MAX_ITEMS:,} are taken")
        if depth > 2:
            raise refuse("is nested too deeply (at most a list or table of lists or tables)")
        items = value.values() if isinstance(value, dict) else value
        for item in items:
            _check_bounds(where, name, item, depth + 1)
        if isinstance(value, dict):
            for key in value:
                _check_bounds(where, name, key, depth + 1)


def _flat(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _wrong(where: str, name: str, value: Any, wanted: ParamType) -> ReportParameterError:
    return ReportParameterError(
        f"{where}: parameter {name!r} must be {wanted.describe()}, got {shown(value)}"
    )


def _checked(where: str, name: str, value: Any, wanted: ParamType) -> Any:
    """A schedule.toml value, which TOML has typed already, against the notebook's type."""
    if isinstance(value, date):  # TOML dates and datetimes travel as ISO strings
        value = value.isoformat()
    if wanted.kind == "any":
        if isinstance(value, list):
            return [_checked(where, name, v, wanted) for v in value]
        return value
    if wanted.kind == "list":
        if not isinstance(value, list):
            raise _wrong(where, name, value, wanted)
        item = ParamType(wanted.item)
        return [_checked(where, name, v, item) for v in value]
    ok = {
        "str": isinstance(value, str),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, int | float) and not isinstance(value, bool),
        "bool": isinstance(value, bool),
        "dict": isinstance(value, dict),
    }[wanted.kind]
    if not ok:
        raise _wrong(where, name, value, wanted)
    return float(value) if wanted.kind == "float" else value


def _from_text(where: str, name: str, text: str, wanted: ParamType) -> Any:
    """A command-line value (text) converted to the notebook's type."""
    if wanted.nullable and text.strip().lower() in _NULL:
        return None
    kind = wanted.kind
    try:
        if kind == "str":
            return text
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
        if kind == "bool":
            lowered = text.strip().lower()
            if lowered in _TRUE | _FALSE:
                return lowered in _TRUE
            raise ValueError(text)
        if kind == "list":
            items = _list_from_text(text)
            return [_from_text(where, name, str(i), ParamType(wanted.item)) for i in items]
        if kind == "dict":
            value = json.loads(text)
            if not isinstance(value, dict):
                raise ValueError(text)
            return value
    except (ValueError, RecursionError, ReportParameterError):  # JSON nested thousands deep
        raise _wrong(where, name, text, wanted) from None
    return _any_from_text(text)


def _list_from_text(text: str) -> list[Any]:
    """``US,IN`` or a JSON list ``["US", "IN"]``."""
    stripped = text.strip()
    if stripped.startswith("["):
        value = json.loads(stripped)
        if not isinstance(value, list):
            raise ValueError(text)
        return value
    return [part.strip() for part in stripped.split(",") if part.strip()]


def _any_from_text(text: str) -> Any:
    """An untyped parameter: a number, boolean or None when it reads as one, else the text."""
    lowered = text.strip().lower()
    if lowered in _NULL:
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text
