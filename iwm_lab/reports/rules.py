"""What the schedule says happens around a run: delivery targets, gates, alerts, retention.

Parsed from ``reports/schedule.toml`` into typed values by :mod:`.schedule`; this module holds
the types and their checks, so an error names the report and the key before anything runs::

    [delivery]                          # optional
    base_url = "https://reports.example.org/iwm/"   # where the output folder is served
    attach_max_kb = 5000                # attach the page to mail when it is at most this big
    sender = "iwm-lab@example.org"

    [targets.analysts]
    email = ["analysts@example.org"]    # SMTP: IWM_SMTP_URL, password IWM_SMTP_PASSWORD
    [targets.ops]
    webhook = "${IWM_OPS_WEBHOOK}"      # the URL is a secret: only from the environment

    [reports.overview]
    retention = { keep_last = 20, keep_days = 90 }
    timeout_s = 1800
    retries = 2
    retry_backoff_s = 10
    deliver = ["analysts"]
    notify_failure = ["ops"]
    run_when = "data_changed"
    reads = ["reviews", "pulses"]
    checks = [ { record = "reviews_age_days", max = 7 } ]
    alerts = [ { record = "reviews_age_days", op = ">", value = 2, notify = ["ops"],
                 grace = "12h" } ]
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from iwm_lab.exceptions import ScheduleError

RUN_WHEN = ("always", "data_changed")
CHECK_KINDS = ("min", "max", "equals", "not_null", "max_change_pct")
OPERATORS: Mapping[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
ENV_REFERENCE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_EMAIL = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_TIMEOUT_S = 7 * 86400
MAX_RETRIES = 10

Fail = Callable[[str, str], ScheduleError]


@dataclass(frozen=True)
class Target:
    """A named place to send messages: mail addresses, or a webhook URL from the environment."""

    name: str
    email: tuple[str, ...] = ()
    webhook_env: str | None = None  # the variable holding the URL; never the URL itself


@dataclass(frozen=True)
class Delivery:
    """``[delivery]``: how mail and links are built."""

    base_url: str | None = None
    attach_max_kb: int = 5000
    sender: str = "iwm-lab@localhost"


@dataclass(frozen=True)
class Retention:
    """Prune runs beyond the newest ``keep_last`` or older than ``keep_days`` (either)."""

    keep_last: int | None = None
    keep_days: float | None = None


@dataclass(frozen=True)
class Check:
    """A gate on one recorded figure; a failing check holds the run."""

    record: str
    kind: str  # one of CHECK_KINDS
    value: Any = None

    def describe(self) -> str:
        if self.kind == "not_null":
            return f"{self.record} is recorded and not null"
        if self.kind == "max_change_pct":
            return f"{self.record} changes by at most {self.value}% from the last good run"
        words = {"min": ">=", "max": "<=", "equals": "=="}
        return f"{self.record} {words[self.kind]} {self.value!r}"


@dataclass(frozen=True)
class Alert:
    """A condition on a recorded figure (``op``, ``value``) or ``has_rows`` on a recorded list."""

    record: str
    notify: tuple[str, ...]
    op: str | None = None
    value: Any = None
    when: str | None = None  # "has_rows"
    grace: timedelta = timedelta(0)

    @property
    def key(self) -> str:
        """Stable name of the alert in the alert state file."""
        if self.when:
            return f"{self.record} {self.when}"
        return f"{self.record} {self.op} {self.value!r}"

    def describe(self) -> str:
        if self.when == "has_rows":
            return f"{self.record} has rows"
        return f"{self.record} {self.op} {self.value!r}"


def duration(text: object) -> timedelta | None:
    """``"12h"``, ``"30m"``, ``"2d"``, ``"45s"`` or a number of seconds; None if unreadable."""
    if isinstance(text, int | float) and not isinstance(text, bool) and text >= 0:
        return timedelta(seconds=float(text))
    if isinstance(text, str) and (match := _DURATION.match(text)):
        return timedelta(seconds=float(match[1]) * _UNITS[match[2]])
    return None


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse_targets(raw: object, path: object) -> dict[str, Target]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ScheduleError(f"{path}: [targets] must be a table of named targets")
    targets = {}
    for name, table in raw.items():
        where = f"{path}: target {name!r}"
        if not isinstance(table, dict):
            raise ScheduleError(f"{where} must be a table with email and/or webhook")
        unknown = sorted(set(table) - {"email", "webhook"})
        if unknown:
            raise ScheduleError(f"{where}: unknown key {unknown[0]!r} (allowed: email, webhook)")
        email = table.get("email", [])
        if isinstance(email, str):
            email = [email]
        if not isinstance(email, list) or not all(
            isinstance(a, str) and _EMAIL.match(a) for a in email
        ):
            raise ScheduleError(f"{where}, key 'email': a list of addresses like a@example.org")
        webhook = table.get("webhook")
        env_name = None
        if webhook is not None:
            match = ENV_REFERENCE.match(webhook) if isinstance(webhook, str) else None
            if match is None:
                raise ScheduleError(
                    f"{where}, key 'webhook': name an environment variable, as in "
                    '"${IWM_OPS_WEBHOOK}"; a webhook URL is a secret and stays out of the '
                    "schedule"
                )
            env_name = match[1]
        if not email and env_name is None:
            raise ScheduleError(f"{where}: give email, webhook or both")
        targets[name] = Target(name, tuple(email), env_name)
    return targets


def parse_delivery(raw: object, path: object) -> Delivery:
    if raw is None:
        return Delivery()
    if not isinstance(raw, dict):
        raise ScheduleError(f"{path}: [delivery] must be a table")
    unknown = sorted(set(raw) - {"base_url", "attach_max_kb", "sender"})
    if unknown:
        raise ScheduleError(
            f"{path}: [delivery]: unknown key {unknown[0]!r} "
            "(allowed: attach_max_kb, base_url, sender)"
        )
    base_url = raw.get("base_url")
    if base_url is not None and (
        not isinstance(base_url, str) or not re.match(r"^https?://[^\s@]+$", base_url)
    ):
        raise ScheduleError(
            f"{path}: [delivery], key 'base_url': an http(s) URL without credentials"
        )
    size = raw.get("attach_max_kb", Delivery.attach_max_kb)
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ScheduleError(f"{path}: [delivery], key 'attach_max_kb': a whole number >= 0")
    sender = raw.get("sender", Delivery.sender)
    if not isinstance(sender, str) or "@" not in sender:
        raise ScheduleError(f"{path}: [delivery], key 'sender': a mail address")
    if base_url is not None and not base_url.endswith("/"):
        base_url += "/"
    return Delivery(base_url, size, sender)


def parse_target_list(
    value: object, key: str, targets: Mapping[str, Target], fail: Fail
) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise fail(key, 'a list of target names, e.g. ["analysts"]')
    for name in value:
        if name not in targets:
            known = ", ".join(sorted(targets)) or "none defined"
            raise fail(key, f"no target named {name!r} (known: {known})")
    return tuple(dict.fromkeys(value))


def parse_retention(value: object, fail: Fail) -> Retention | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise fail("retention", "a table, e.g. { keep_last = 20, keep_days = 90 }")
    unknown = sorted(set(value) - {"keep_last", "keep_days"})
    if unknown:
        raise fail("retention", f"unknown key {unknown[0]!r} (allowed: keep_days, keep_last)")
    keep_last = value.get("keep_last")
    if keep_last is not None and (
        not isinstance(keep_last, int) or isinstance(keep_last, bool) or keep_last < 1
    ):
        raise fail("retention.keep_last", f"{keep_last!r}: a whole number >= 1")
    keep_days = value.get("keep_days")
    if keep_days is not None and (not _number(keep_days) or keep_days <= 0):
        raise fail("retention.keep_days", f"{keep_days!r}: a number of days > 0")
    if keep_last is None and keep_days is None:
        raise fail("retention", "give keep_last, keep_days or both")
    return Retention(keep_last, float(keep_days) if keep_days is not None else None)


def parse_whole(value: object, key: str, fail: Fail, *, low: int, high: int) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise fail(key, f"{value!r}: a whole number from {low} to {high:,}")
    return value


def parse_checks(value: object, fail: Fail) -> tuple[Check, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise fail("checks", 'a list of tables, e.g. [ { record = "rows", min = 1 } ]')
    checks = []
    for i, item in enumerate(value):
        key = f"checks[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("record"), str):
            raise fail(key, 'a table naming a recorded figure: { record = "name", ... }')
        kinds = sorted(set(item) - {"record"})
        unknown = [k for k in kinds if k not in CHECK_KINDS]
        if unknown or not kinds:
            raise fail(key, f"give one or more of {', '.join(CHECK_KINDS)}")
        for kind in kinds:
            bound = item[kind]
            if kind in ("min", "max", "max_change_pct") and not _number(bound):
                raise fail(f"{key}.{kind}", f"{bound!r}: a number")
            if kind == "max_change_pct" and bound < 0:
                raise fail(f"{key}.{kind}", f"{bound!r}: a percentage >= 0")
            if kind == "not_null" and bound is not True:
                raise fail(f"{key}.{kind}", "write not_null = true")
            checks.append(Check(item["record"], kind, bound))
    return tuple(checks)


def parse_alerts(value: object, targets: Mapping[str, Target], fail: Fail) -> tuple[Alert, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise fail("alerts", 'a list of tables, e.g. [ { record = "x", op = ">", value = 2 } ]')
    alerts = []
    for i, item in enumerate(value):
        key = f"alerts[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("record"), str):
            raise fail(key, 'a table naming a recorded figure: { record = "name", ... }')
        unknown = sorted(set(item) - {"record", "op", "value", "when", "notify", "grace"})
        if unknown:
            raise fail(
                key, f"unknown key {unknown[0]!r} (allowed: grace, notify, op, record, value, when)"
            )
        notify = parse_target_list(item.get("notify"), f"{key}.notify", targets, fail)
        if not notify:
            raise fail(f"{key}.notify", "name at least one target")
        grace = duration(item.get("grace", 0))
        if grace is None:
            raise fail(f"{key}.grace", f'{item["grace"]!r}: a duration like "12h", "30m", "2d"')
        when = item.get("when")
        if when is not None:
            if when != "has_rows" or "op" in item or "value" in item:
                raise fail(key, 'when = "has_rows" stands alone (no op or value)')
            alerts.append(Alert(item["record"], notify, when=when, grace=grace))
            continue
        op = item.get("op")
        if op not in OPERATORS:
            raise fail(f"{key}.op", f"{op!r}: one of {' '.join(OPERATORS)}")
        if "value" not in item or isinstance(item["value"], dict | list):
            raise fail(f"{key}.value", "a number, text or boolean to compare with")
        alerts.append(Alert(item["record"], notify, op=op, value=item["value"], grace=grace))
    return tuple(alerts)


def parse_run_when(value: object, fail: Fail) -> str:
    if value is None:
        return "always"
    if value not in RUN_WHEN:
        raise fail("run_when", f"{value!r}: one of {', '.join(RUN_WHEN)}")
    return str(value)


def parse_reads(value: object, fail: Fail) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise fail("reads", 'a non-empty list of table names, e.g. ["reviews", "pulses"]')
    return tuple(dict.fromkeys(value))
