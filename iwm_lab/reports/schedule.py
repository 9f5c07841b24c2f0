"""``reports/schedule.toml``: which reports exist, with what parameters, and when they are due.

The file is parsed once into typed, validated specs. Every error names the report and the key,
so a typo in a rarely-run report is found by ``iwm-lab report list``, not at 3 a.m.::

    output = "output"                  # optional; relative to this file; default "output"

    [defaults]                         # optional; any report key except notebook and cron
    timezone = "UTC"

    [reports.streaming_coverage]
    notebook = "../notebooks/streaming_coverage.ipynb"   # relative to this file
    cron = "0 6 * * 1"                 # five fields, as in crontab(5)
    timezone = "Europe/Berlin"         # IANA name; the cron fields are read in it
    formats = ["ipynb", "html"]
    parameters = { min_reviews = 5 }
    for_each = { region = ["US", "IN"] }   # one output per value
    on_failure = "mail -s 'report failed' team@example.org < /dev/null"
    statement_timeout_ms = 120000
    keep_code = false
    self_contained = false             # true: plotly.js inside each page (one file, for mail)

Cron expressions are evaluated by cronsim (the evaluator behind Healthchecks.io), which follows
Debian's cron, including its handling of daylight-saving transitions.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from iwm_lab.exceptions import ScheduleError
from iwm_lab.reports import rules
from iwm_lab.reports.rules import Alert, Check, Delivery, Retention, Target
from iwm_lab.settings import DEFAULT_SCHEDULE

FORMATS = ("ipynb", "html")

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
# Keys of what happens around a run (see .rules), allowed in [defaults] too.
_AROUND_RUN = {
    "timeout_s",
    "retries",
    "retry_backoff_s",
    "retention",
    "deliver",
    "notify_failure",
    "run_when",
}
_REPORT_KEYS = {
    "notebook",
    "cron",
    "timezone",
    "formats",
    "parameters",
    "for_each",
    "on_failure",
    "statement_timeout_ms",
    "keep_code",
    "self_contained",
    "description",
    *_AROUND_RUN,
    "reads",
    "checks",
    "alerts",
}
_DEFAULT_KEYS = {
    "timezone",
    "formats",
    "on_failure",
    "statement_timeout_ms",
    "keep_code",
    "self_contained",
    *_AROUND_RUN,
}
_TOP_KEYS = {"output", "defaults", "reports", "targets", "delivery"}
# TOML scalars a parameter may hold; tables (dicts) are refused to keep parameters flat.
_SCALARS = (str, int, float, bool, date)


# Folder and file names come from report names and fan-out values; a file name has at most
# 255 bytes. Long values keep a readable start and a hash of the whole value, which keeps
# them apart.
MAX_NAME = 64
_SLUG_MAX = 48
_PART_SLUG_MAX = 120
_HASHED = 16
MAX_TEXT = 1_000
MAX_ITEMS = 1_000


def _hashed(slug: str, whole: str, limit: int) -> str:
    if len(slug) <= limit:
        return slug
    digest = hashlib.sha256(whole.encode("utf-8", "surrogatepass")).hexdigest()[:_HASHED]
    return f"{slug[: limit - _HASHED - 1]}-{digest}"


def _short(value: object) -> str:
    """A fan-out value as labels show it: a long one (an ad hoc ``-p``) is shortened."""
    text = str(value)
    return text if len(text) <= _SLUG_MAX else f"{text[:32]}… ({len(text):,} characters)"


def _slug(value: object) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(value)).strip("_") or "_"
    return _hashed(slug, str(value), _SLUG_MAX)


@dataclass(frozen=True)
class ReportSpec:
    """One named report of the schedule."""

    name: str
    notebook: Path
    cron: str
    timezone: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    formats: tuple[str, ...] = FORMATS
    for_each: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    on_failure: str | None = None
    statement_timeout_ms: int | None = None
    keep_code: bool = False
    self_contained: bool = False
    description: str = ""
    timeout_s: int | None = None
    retries: int = 0
    retry_backoff_s: float = 10.0
    retention: Retention | None = None
    deliver: tuple[str, ...] = ()
    notify_failure: tuple[str, ...] = ()
    run_when: str = "always"
    reads: tuple[str, ...] = ()  # tables behind run_when = "data_changed"; () for all
    checks: tuple[Check, ...] = ()
    alerts: tuple[Alert, ...] = ()

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def explain(self) -> str:
        """The cron expression in words, e.g. ``At 06:00 on Monday`` (cronsim's wording)."""
        return CronSim(self.cron, datetime.now(self.zone)).explain()

    def next_slot(self, now: datetime) -> datetime:
        """The first scheduled time after ``now`` (aware, in the report's time zone)."""
        return next(CronSim(self.cron, now.astimezone(self.zone)))

    def last_slot(self, now: datetime) -> datetime | None:
        """The latest scheduled time at or before ``now``; None when there was none in 50 years."""
        # cronsim's reverse iteration excludes its start; one second later includes `now`.
        start = now.astimezone(self.zone).replace(microsecond=0) + timedelta(seconds=1)
        return next(CronSim(self.cron, start, reverse=True), None)

    def slots_between(self, after: datetime, until: datetime, limit: int = 1000) -> int:
        """How many scheduled times fall in ``(after, until]`` (counted up to ``limit``)."""
        count = 0
        for slot in CronSim(self.cron, after.astimezone(self.zone)):
            if slot > until or count >= limit:
                break
            count += 1
        return count

    def jobs(self) -> list[Job]:
        """The units that run and are stored separately: the report, or one per fan-out value."""
        if not self.for_each:
            return [Job(self, {})]
        keys = sorted(self.for_each)
        return [
            Job(self, dict(zip(keys, values, strict=True)))
            for values in itertools.product(*(self.for_each[k] for k in keys))
        ]

    def job(self, part: Mapping[str, Any]) -> Job:
        """The job for these fan-out values (which may lie outside ``for_each``: ad-hoc runs)."""
        return Job(self, dict(part))


@dataclass(frozen=True)
class Job:
    """A report, or one part of a fanned-out report: one notebook run, one output folder."""

    report: ReportSpec
    part: Mapping[str, Any]

    @property
    def key(self) -> str:
        """Folder below the output root: ``ratings`` or ``streaming_coverage/region-US``."""
        if not self.part:
            return self.report.name
        return f"{self.report.name}/{self._part_slug}"

    @property
    def label(self) -> str:
        """For people: ``ratings`` or ``streaming_coverage[region=US]``."""
        if not self.part:
            return self.report.name
        inner = ",".join(f"{k}={_short(v)}" for k, v in sorted(self.part.items()))
        return f"{self.report.name}[{inner}]"

    @property
    def file_stem(self) -> str:
        """Name of the output files: ``ratings`` or ``streaming_coverage-region-US``."""
        return self.report.name if not self.part else f"{self.report.name}-{self._part_slug}"

    @property
    def parameters(self) -> dict[str, Any]:
        return {**self.report.parameters, **self.part}

    @property
    def _part_slug(self) -> str:
        items = sorted(self.part.items())
        slug = "_".join(f"{_slug(k)}-{_slug(v)}" for k, v in items)
        return _hashed(slug, repr(items), _PART_SLUG_MAX)


@dataclass(frozen=True)
class Schedule:
    """The parsed schedule file: reports by name and where their output goes."""

    path: Path
    output_dir: Path
    reports: Mapping[str, ReportSpec]
    targets: Mapping[str, Target] = field(default_factory=dict)
    delivery: Delivery = field(default_factory=Delivery)

    def report(self, name: str) -> ReportSpec:
        try:
            return self.reports[name]
        except KeyError:
            known = ", ".join(sorted(self.reports)) or "none"
            asked = repr(name) if len(name) <= MAX_NAME else f"{name[:MAX_NAME]!r}…"
            raise ScheduleError(
                f"no report named {asked} in {self.path} (known: {known})"
            ) from None

    def jobs(self) -> list[Job]:
        return [job for spec in self.reports.values() for job in spec.jobs()]


def load_schedule(path: Path | None = None, output_dir: Path | None = None) -> Schedule:
    """Read and validate a schedule file (default: the project's ``reports/schedule.toml``)."""
    path = Path(path or DEFAULT_SCHEDULE).absolute()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScheduleError(f"schedule file not found: {path}") from None
    except UnicodeDecodeError as exc:
        raise ScheduleError(f"{path} is not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ScheduleError(f"cannot read {path}: {exc.strerror or type(exc).__name__}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScheduleError(f"{path} is not valid TOML: {exc}") from None
    return parse_schedule(raw, path, output_dir)


def parse_schedule(raw: Mapping[str, Any], path: Path, output_dir: Path | None = None) -> Schedule:
    """Validate the parsed TOML of a schedule; relative paths resolve against ``path``'s folder."""
    base = path.parent
    _unknown_keys(raw, _TOP_KEYS, f"{path}: top level")
    output = raw.get("output", "output")
    if not isinstance(output, str) or not output:
        raise ScheduleError(f"{path}: key 'output' must be a folder name or path")
    defaults = raw.get("defaults", {})
    if not isinstance(defaults, dict):
        raise ScheduleError(f"{path}: [defaults] must be a table")
    _unknown_keys(defaults, _DEFAULT_KEYS, f"{path}: [defaults]")
    reports = raw.get("reports", {})
    if not isinstance(reports, dict):
        raise ScheduleError(f"{path}: [reports] must be a table of named reports")
    targets = rules.parse_targets(raw.get("targets"), path)
    delivery = rules.parse_delivery(raw.get("delivery"), path)
    specs = {}
    for name, table in reports.items():
        if not isinstance(table, dict):
            raise ScheduleError(f"{path}: report {name!r} must be a table")
        specs[name] = _report(name, {**defaults, **table}, base, path, targets)
    return Schedule(path, output_dir or (base / output).resolve(), specs, targets, delivery)


def _unknown_keys(table: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ScheduleError(
            f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})"
        )


def _report(
    name: str, table: Mapping[str, Any], base: Path, path: Path, targets: Mapping[str, Target]
) -> ReportSpec:
    where = f"{path}: report {name!r}"

    def fail(key: str, problem: str) -> ScheduleError:
        return ScheduleError(f"{where}, key {key!r}: {problem}")

    if not _NAME.match(name) or len(name) > MAX_NAME:
        raise ScheduleError(
            f"{path}: report {name[:MAX_NAME]!r}: names are letters, digits, '_' and '-', "
            f"starting with a letter, at most {MAX_NAME} characters"
        )
    _unknown_keys(table, _REPORT_KEYS, where)
    for key in ("notebook", "cron"):
        if not isinstance(table.get(key), str) or not table[key].strip():
            raise fail(key, "required, a string")
    notebook = (base / table["notebook"]).resolve()
    if notebook.suffix != ".ipynb":
        raise fail("notebook", f"{table['notebook']!r} is not an .ipynb file")

    tz_name = table.get("timezone", "UTC")
    try:
        zone = ZoneInfo(tz_name) if isinstance(tz_name, str) else None
    except (ZoneInfoNotFoundError, ValueError):
        zone = None
    if zone is None:
        raise fail("timezone", f"{tz_name!r} is not an IANA time zone name (e.g. 'Europe/Berlin')")
    cron = " ".join(table["cron"].split())
    try:
        CronSim(cron, datetime.now(UTC).astimezone(zone))
    except CronSimError as exc:
        raise fail("cron", f"{cron!r}: {exc}") from None
    if len(cron.split()) != 5:
        raise fail("cron", f"{cron!r}: expected five fields (minute hour day month weekday)")

    formats = table.get("formats", list(FORMATS))
    if (
        not isinstance(formats, list)
        or not formats
        or any(f not in FORMATS for f in formats)
        or len(set(formats)) != len(formats)
    ):
        raise fail("formats", f"{formats!r}: a non-empty list of {', '.join(FORMATS)}")

    parameters = table.get("parameters", {})
    if not isinstance(parameters, dict):
        raise fail("parameters", "must be a table, e.g. parameters = { min_reviews = 5 }")
    for key, value in parameters.items():
        _check_value(value, fail, f"parameters.{key}")

    for_each = table.get("for_each", {})
    if not isinstance(for_each, dict):
        raise fail("for_each", "must be a table, e.g. for_each = { region = ['US', 'IN'] }")
    fan: dict[str, tuple[Any, ...]] = {}
    for key, values in for_each.items():
        if not isinstance(values, list) or not values:
            raise fail(f"for_each.{key}", "must be a non-empty list of values")
        if len(values) > MAX_ITEMS:
            raise fail(f"for_each.{key}", f"{len(values):,} values; at most {MAX_ITEMS:,}")
        for value in values:
            if not isinstance(value, _SCALARS):
                raise fail(f"for_each.{key}", f"{value!r}: values are strings or numbers")
            if isinstance(value, str) and len(value) > MAX_TEXT:
                raise fail(
                    f"for_each.{key}", f"a value of {len(value):,} characters; at most {MAX_TEXT:,}"
                )
        slugs = [_slug(v) for v in values]
        if len(set(slugs)) != len(slugs):
            raise fail(f"for_each.{key}", "two values map to the same output folder name")
        if key in parameters:
            raise fail(f"for_each.{key}", "also set in parameters; set it in one place only")
        fan[key] = tuple(values)

    on_failure = table.get("on_failure")
    if on_failure is not None and (not isinstance(on_failure, str) or not on_failure.strip()):
        raise fail("on_failure", "must be a shell command (a string)")
    timeout = table.get("statement_timeout_ms")
    if timeout is not None and (
        not isinstance(timeout, int) or isinstance(timeout, bool) or timeout < 0
    ):
        raise fail("statement_timeout_ms", f"{timeout!r}: milliseconds, a whole number >= 0")
    flags = {key: table.get(key, False) for key in ("keep_code", "self_contained")}
    for key, flag in flags.items():
        if not isinstance(flag, bool):
            raise fail(key, f"{flag!r}: true or false")
    description = table.get("description", "")
    if not isinstance(description, str):
        raise fail("description", "must be a string")
    backoff = table.get("retry_backoff_s", 10)
    if not isinstance(backoff, int | float) or isinstance(backoff, bool) or backoff < 0:
        raise fail("retry_backoff_s", f"{backoff!r}: seconds, a number >= 0")

    return ReportSpec(
        name=name,
        notebook=notebook,
        cron=cron,
        timezone=zone.key,
        parameters=dict(parameters),
        formats=tuple(formats),
        for_each=fan,
        on_failure=on_failure,
        statement_timeout_ms=timeout,
        keep_code=flags["keep_code"],
        self_contained=flags["self_contained"],
        description=description,
        timeout_s=rules.parse_whole(
            table.get("timeout_s"), "timeout_s", fail, low=1, high=rules.MAX_TIMEOUT_S
        ),
        retries=rules.parse_whole(
            table.get("retries"), "retries", fail, low=0, high=rules.MAX_RETRIES
        )
        or 0,
        retry_backoff_s=float(backoff),
        retention=rules.parse_retention(table.get("retention"), fail),
        deliver=rules.parse_target_list(table.get("deliver"), "deliver", targets, fail),
        notify_failure=rules.parse_target_list(
            table.get("notify_failure"), "notify_failure", targets, fail
        ),
        run_when=rules.parse_run_when(table.get("run_when"), fail),
        reads=rules.parse_reads(table.get("reads"), fail),
        checks=rules.parse_checks(table.get("checks"), fail),
        alerts=rules.parse_alerts(table.get("alerts"), targets, fail),
    )


def _check_value(value: Any, fail: Any, key: str) -> None:
    if isinstance(value, list) and len(value) > MAX_ITEMS:
        raise fail(key, f"a list of {len(value):,} items; at most {MAX_ITEMS:,}")
    if isinstance(value, list):
        for item in value:
            if not isinstance(item, _SCALARS):
                raise fail(key, f"{item!r}: lists hold strings, numbers, booleans or dates")
    elif not isinstance(value, _SCALARS):
        raise fail(key, f"{value!r}: a string, number, boolean, date or list of those")
