"""Report delivery for real: mail to an aiosmtpd server, webhooks to an HTTP server, both on
127.0.0.1, and the outbox that records failures and retries them.

No kernel runs: each test builds a schedule from a dict, a run folder holding an HTML page,
and the run record a runner would have written.
"""

from __future__ import annotations

import fcntl
import json
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import pytest

from iwm_lab.reports import delivery
from iwm_lab.reports.delivery import Notice, OutboxEntry, flush, notify, pending_deliveries
from iwm_lab.reports.redaction import Redactor
from iwm_lab.reports.rules import Alert
from iwm_lab.reports.schedule import Job, Schedule, parse_schedule
from iwm_lab.reports.state import FAILED, HELD, SKIPPED, SUCCESS, TIMED_OUT, RunRecord
from tests.sinks import HttpSink, SmtpSink, closed_port

PASSWORD = "Corr3ct-Horse-Battery"
WRONG_PASSWORD = "Wr0ng-Staple-Guess"
SENDER = "iwm-lab@example.org"
ANALYSTS = ["analysts@example.org", "lead@example.org"]
BASE_URL = "https://reports.example.org/iwm/"
RUN_ID = "20261130T060000Z-abc123"
SUMMARY = [f"Finding number {i} says something about the data." for i in range(1, 9)]
FIGURES = {
    "as_of": "2026-11-30T06:00:00",
    "movies_rated": 1234,
    "reviews_age_days": 3.4,
    "region": "US",
    "top_titles": ["a", "b"],  # a recorded list: not a key figure
    "note": "x" * 200,  # long text: not a key figure either
}
SELF_CONTAINED = "<html><body><h1>Overview</h1><script>/* plotly inlined */</script></body></html>"
LINKED = '<html><head><script src="../../_static/plotly-2.min.js"></script></head></html>'

MakeSchedule = Callable[..., Schedule]


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("IWM_SMTP_URL", "IWM_SMTP_PASSWORD", "IWM_OPS_WEBHOOK", "IWM_BROKEN_WEBHOOK"):
        monkeypatch.delenv(name, raising=False)
    # The sinks are on the loopback address: no proxy of the machine may stand in between.
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def make_schedule(tmp_path: Path) -> MakeSchedule:
    def make(**delivery_keys: Any) -> Schedule:
        keys = {"base_url": BASE_URL, "attach_max_kb": 50, "sender": SENDER} | delivery_keys
        raw = {
            "delivery": {k: v for k, v in keys.items() if v is not None},  # None: leave it out
            "targets": {
                "analysts": {"email": ANALYSTS},
                "ops": {"webhook": "${IWM_OPS_WEBHOOK}"},
                "broken": {"webhook": "${IWM_BROKEN_WEBHOOK}"},
            },
            "reports": {
                "overview": {
                    "notebook": "notebooks/overview.ipynb",
                    "cron": "0 6 * * *",
                    "deliver": ["analysts"],
                    "notify_failure": ["ops"],
                }
            },
        }
        return parse_schedule(raw, tmp_path / "schedule.toml", output_dir=tmp_path / "output")

    return make


@pytest.fixture
def schedule(make_schedule: MakeSchedule) -> Schedule:
    return make_schedule()


def job_of(schedule: Schedule) -> Job:
    return schedule.report("overview").jobs()[0]


def make_run(
    schedule: Schedule,
    *,
    status: str = SUCCESS,
    page: str | None = SELF_CONTAINED,
    run_id: str = RUN_ID,
    **fields: Any,
) -> RunRecord:
    """A run folder with its HTML page, and the record a runner would keep of it."""
    job = job_of(schedule)
    folder = schedule.output_dir / job.key / run_id
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    if page is not None:
        (folder / "overview.html").write_text(page, encoding="utf-8")
        files.append("overview.html")
    values: dict[str, Any] = {
        "as_of": "2026-11-30T06:00:00",
        "records": dict(FIGURES),
        "summary": list(SUMMARY),
        "files": files,
    }
    return RunRecord(run_id, status, "schedule", "2026-11-30T06:00:05+00:00", **(values | fields))


def notice_of(schedule: Schedule, **fields: Any) -> Notice:
    return Notice.from_run(schedule, job_of(schedule), make_run(schedule, **fields))


def outbox_text(schedule: Schedule) -> str:
    return (schedule.output_dir / "overview" / delivery.OUTBOX_FILE).read_text(encoding="utf-8")


def outbox(schedule: Schedule) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads(outbox_text(schedule))["entries"]
    return entries


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        monkeypatch.setenv("IWM_SMTP_URL", sink.url)
        yield sink


@pytest.fixture
def hook(monkeypatch: pytest.MonkeyPatch) -> Iterator[HttpSink]:
    with HttpSink() as sink:
        monkeypatch.setenv("IWM_OPS_WEBHOOK", sink.url)
        yield sink


# --- what a message says ------------------------------------------------------------------


def test_mail_carries_summary_figures_link_and_the_page(schedule: Schedule, smtp: SmtpSink) -> None:
    notice = notice_of(schedule)
    (result,) = notify(schedule, job_of(schedule), ["analysts"], notice)
    assert result.sent and result.error is None and result.attempts == 1

    (mail,) = smtp.wait(1)
    assert mail.mail_from == SENDER
    assert mail.rcpt_tos == ANALYSTS
    assert (
        mail.message["Subject"] == "iwm-lab: overview succeeded (data as of 2026-11-30 06:00 UTC)"
    )
    text = mail.text()
    assert all(sentence in text for sentence in SUMMARY[:6])
    assert SUMMARY[6] not in text  # at most six findings
    assert "movies_rated: 1,234" in text and "reviews_age_days: 3.4" in text
    assert "region: US" in text
    assert "top_titles" not in text and "note:" not in text and "as_of:" not in text
    link = f"{BASE_URL}overview/{RUN_ID}/overview.html"
    assert f"Page: {link}" in text
    assert f'href="{link}"' in (mail.html() or "")
    assert mail.attachments() == {"overview.html": SELF_CONTAINED.encode()}
    assert outbox(schedule)[0]["status"] == "sent"


@pytest.mark.parametrize(
    ("delivery_keys", "page", "attached", "page_line"),
    [
        pytest.param(
            {"attach_max_kb": 1}, SELF_CONTAINED + "x" * 2000, False, "link", id="too-big"
        ),
        pytest.param({}, LINKED, False, "link", id="not-self-contained"),
        pytest.param({"attach_max_kb": 0}, SELF_CONTAINED, False, "link", id="attaching-off"),
        pytest.param({"base_url": None}, SELF_CONTAINED, True, "folder", id="no-base-url"),
        pytest.param({"base_url": None}, LINKED, False, "folder", id="no-base-url-linked"),
    ],
)
def test_page_attached_only_when_self_contained_and_small(
    make_schedule: MakeSchedule,
    smtp: SmtpSink,
    delivery_keys: dict[str, Any],
    page: str,
    attached: bool,
    page_line: str,
) -> None:
    schedule = make_schedule(**delivery_keys)
    notify(schedule, job_of(schedule), ["analysts"], notice_of(schedule, page=page))
    (mail,) = smtp.wait(1)
    assert mail.attachments() == ({"overview.html": page.encode()} if attached else {})
    text = mail.text()
    relative = f"overview/{RUN_ID}/overview.html"
    if page_line == "link":
        assert f"Page: {BASE_URL}{relative}" in text
    else:
        assert f"Page: {relative} (below the report output folder)" in text
    assert ("The page is attached" in text) is attached


def test_webhook_posts_json_with_the_fields_and_text(schedule: Schedule, hook: HttpSink) -> None:
    notice = notice_of(schedule, status=FAILED, error="ZeroDivisionError: division by zero")
    (result,) = notify(schedule, job_of(schedule), ["ops"], notice)
    assert result.sent, result.error

    (post,) = hook.wait(1)
    assert post.headers["content-type"] == "application/json"
    body = post.json
    link = f"{BASE_URL}overview/{RUN_ID}/overview.html"
    assert (
        body["text"].splitlines()[0]
        == "iwm-lab: overview failed: ZeroDivisionError: division by zero"
    )
    assert "movies_rated: 1,234" in body["text"] and link in body["text"]
    assert {k: body[k] for k in ("report", "job", "kind", "status", "run_id", "as_of")} == {
        "report": "overview",
        "job": "overview",
        "kind": "failed",
        "status": FAILED,
        "run_id": RUN_ID,
        "as_of": "2026-11-30T06:00:00",
    }
    assert body["figures"] == {"movies_rated": 1234, "reviews_age_days": 3.4, "region": "US"}
    assert body["error"] == "ZeroDivisionError: division by zero"
    assert body["reasons"] == [] and body["link"] == link


def test_a_target_with_mail_and_webhook_gets_both(
    make_schedule: MakeSchedule, smtp: SmtpSink, hook: HttpSink, tmp_path: Path
) -> None:
    raw_schedule = make_schedule()
    both = replace(raw_schedule.targets["analysts"], name="both", webhook_env="IWM_OPS_WEBHOOK")
    schedule = replace(raw_schedule, targets={**raw_schedule.targets, "both": both})
    results = notify(schedule, job_of(schedule), ["both"], notice_of(schedule))
    assert sorted((r.channel, r.sent) for r in results) == [("email", True), ("webhook", True)]
    assert len(smtp.wait(1)) == 1 and len(hook.wait(1)) == 1


@pytest.mark.parametrize(
    ("fields", "kind", "title"),
    [
        ({}, "success", "iwm-lab: overview succeeded (data as of 2026-11-30 06:00 UTC)"),
        ({"as_of": "2026-11-30"}, "success", "iwm-lab: overview succeeded (data as of 2026-11-30)"),
        ({"as_of": None}, "success", "iwm-lab: overview succeeded"),
        (
            {"status": FAILED, "error": "KeyError: 'rating'\nTraceback line"},
            "failed",
            "iwm-lab: overview failed: KeyError: 'rating'",
        ),
        (
            {"status": TIMED_OUT, "error": "stopped after 30 s"},
            "timed_out",
            "iwm-lab: overview timed out: stopped after 30 s",
        ),
        (
            {"status": HELD, "held_reasons": ["reviews_age_days <= 7 failed"]},
            "held",
            "iwm-lab: overview held: reviews_age_days <= 7 failed",
        ),
    ],
)
def test_notice_from_run(schedule: Schedule, fields: dict[str, Any], kind: str, title: str) -> None:
    notice = notice_of(schedule, **fields)
    assert (notice.kind, notice.title) == (kind, title)
    assert notice.page == f"overview/{RUN_ID}/overview.html"
    assert notice.job_key == "overview" and notice.run_id == RUN_ID


@pytest.mark.parametrize(
    ("alert", "value", "resolved", "title"),
    [
        (Alert("reviews_age_days", ("ops",), op=">", value=2), 3.4, False,
         "ALERT overview: reviews_age_days > 2 (now 3.4)"),
        (Alert("reviews_age_days", ("ops",), op=">", value=2), 1.5, True,
         "resolved overview: reviews_age_days > 2 (now 1.5)"),
        (Alert("stale_titles", ("ops",), when="has_rows"), ["a", "b", "c"], False,
         "ALERT overview: stale_titles has rows (now 3 rows)"),
    ],
)  # fmt: skip
def test_alert_notices_name_the_condition_and_the_value(
    schedule: Schedule, alert: Alert, value: Any, resolved: bool, title: str
) -> None:
    record = make_run(schedule, records={**FIGURES, alert.record: value})
    notice = Notice.for_alert(schedule, job_of(schedule), record, alert, resolved=resolved)
    assert notice.kind == ("resolved" if resolved else "alert")
    assert notice.title == title


def test_no_notice_for_a_skipped_run(schedule: Schedule) -> None:
    with pytest.raises(ValueError, match="skipped"):
        notice_of(schedule, status=SKIPPED, page=None)


def test_unknown_target_is_a_programming_error(schedule: Schedule) -> None:
    with pytest.raises(ValueError, match=r"'nobody'.*known: analysts, broken, ops"):
        notify(schedule, job_of(schedule), ["nobody"], notice_of(schedule))


# --- failures, the outbox and retries -----------------------------------------------------


@pytest.mark.parametrize("failure", ["http-500", "webhook-closed-port", "smtp-closed-port"])
def test_failed_delivery_stays_pending_and_flush_sends_it_once(
    schedule: Schedule,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    failure: str,
) -> None:
    caplog.set_level(logging.DEBUG, logger="iwm_lab")
    job = job_of(schedule)
    target = "analysts" if failure.startswith("smtp") else "ops"
    port = closed_port()
    with HttpSink(status=500) as hook, SmtpSink() as smtp:
        if failure == "http-500":
            monkeypatch.setenv("IWM_OPS_WEBHOOK", hook.url)
            expected = "webhook of target 'ops' (IWM_OPS_WEBHOOK): HTTP 500"
        elif failure == "webhook-closed-port":
            monkeypatch.setenv("IWM_OPS_WEBHOOK", f"http://127.0.0.1:{port}/hooks/T1/B2/tok3n")
            expected = "webhook of target 'ops' (IWM_OPS_WEBHOOK): connection refused"
        else:
            monkeypatch.setenv("IWM_SMTP_URL", f"smtp://127.0.0.1:{port}")
            expected = (
                f"email to target 'analysts': cannot connect to 127.0.0.1:{port}: "
                "connection refused"
            )

        (result,) = notify(schedule, job, [target], notice_of(schedule))
        assert (result.sent, result.error, result.attempts) == (False, expected, 1)
        assert str(result) == f"not sent (1 attempt, will retry): {expected}"
        (entry,) = outbox(schedule)
        assert entry["status"] == "pending" and entry["attempts"] == 1
        assert entry["last_error"] == expected and "\n" not in entry["last_error"]
        assert expected in caplog.text
        (waiting,) = pending_deliveries(schedule, job)
        assert waiting.describe().startswith(
            f"{result.channel} to target '{target}' (overview success"
        )
        assert "pending for less than a minute, 1 attempt; last error: " in waiting.describe()

        # The server is back (answering 200 / listening): the next run-due sends it.
        hook.status = 200
        monkeypatch.setenv("IWM_OPS_WEBHOOK", hook.url)
        monkeypatch.setenv("IWM_SMTP_URL", smtp.url)
        (retry,) = flush(schedule)
        assert (retry.id, retry.sent, retry.attempts) == (result.id, True, 2)
        assert str(retry) == f"{result.channel} to target '{target}': sent (success)"
        assert flush(schedule) == []  # sent exactly once
        (entry,) = outbox(schedule)
        assert entry["status"] == "sent" and entry["sent_at"] and entry["attempts"] == 2
        assert pending_deliveries(schedule, job) == []

        if target == "ops":
            posts = hook.received
            assert len(posts) == (2 if failure == "http-500" else 1)
            if failure == "http-500":  # the retry is the same message
                assert posts[0].body == posts[1].body
            assert smtp.received == []
        else:
            (mail,) = smtp.wait(1)
            assert mail.message["Message-ID"] == f"<iwm-lab.{result.id}@example.org>"
            assert mail.attachments() == {"overview.html": SELF_CONTAINED.encode()}
            assert hook.received == []


def test_smtp_auth_with_the_password_from_the_environment(
    schedule: Schedule, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="iwm_lab")
    with SmtpSink(user="reports", password=PASSWORD) as smtp:
        assert smtp.url == f"smtp://reports@127.0.0.1:{smtp.port}"
        monkeypatch.setenv("IWM_SMTP_URL", smtp.url)
        monkeypatch.setenv("IWM_SMTP_PASSWORD", WRONG_PASSWORD)
        (result,) = notify(schedule, job_of(schedule), ["analysts"], notice_of(schedule))
        assert result.error == "email to target 'analysts': SMTP 535 authentication failed"
        assert smtp.auth_failures >= 1 and smtp.received == []  # smtplib tries PLAIN, then LOGIN

        monkeypatch.setenv("IWM_SMTP_PASSWORD", PASSWORD)
        (retry,) = flush(schedule)
        assert retry.sent, retry.error
        (mail,) = smtp.wait(1)
        assert mail.authenticated_as == "reports"
        assert flush(schedule) == [] and len(smtp.received) == 1

    written = outbox_text(schedule) + caplog.text + repr(result) + mail.message.as_string()
    assert "535 authentication failed" in caplog.text
    assert PASSWORD not in written and WRONG_PASSWORD not in written


@pytest.mark.parametrize(
    ("url", "password", "problem"),
    [
        ("smtp://reports@127.0.0.1:{port}", None, "IWM_SMTP_PASSWORD is not set"),
        (f"smtp://reports:{PASSWORD}@127.0.0.1:{{port}}", None, "IWM_SMTP_URL holds a password"),
        ("smtp://127.0.0.1:{port}?starttls=required", None, "does not offer STARTTLS"),
        ("smtp://127.0.0.1:{port}?starttls=maybe", None, "starttls may only be 'required'"),
        ("http://127.0.0.1:{port}", None, "IWM_SMTP_URL is not a URL like smtp://"),
        (None, PASSWORD, "IWM_SMTP_URL is not set"),
    ],
)
def test_smtp_settings_that_cannot_work_fail_the_delivery(
    schedule: Schedule,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    url: str | None,
    password: str | None,
    problem: str,
) -> None:
    caplog.set_level(logging.DEBUG, logger="iwm_lab")
    with SmtpSink() as smtp:
        if url is not None:
            monkeypatch.setenv("IWM_SMTP_URL", url.format(port=smtp.port))
        if password is not None:
            monkeypatch.setenv("IWM_SMTP_PASSWORD", password)
        (result,) = notify(schedule, job_of(schedule), ["analysts"], notice_of(schedule))
    assert not result.sent and result.error is not None
    assert result.error.startswith("email to target 'analysts': ") and problem in result.error
    assert smtp.received == []
    assert PASSWORD not in outbox_text(schedule) + caplog.text + result.error


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (None, "is not set"),
        ("ftp://hooks.example.org/T1/B2/s3cretWebhookToken", "does not hold an http(s) URL"),
        ("not a url s3cretWebhookToken", "does not hold an http(s) URL"),
    ],
)  # fmt: skip
def test_webhook_variable_that_cannot_work_is_named_not_shown(
    schedule: Schedule, monkeypatch: pytest.MonkeyPatch, value: str | None, problem: str
) -> None:
    if value is not None:
        monkeypatch.setenv("IWM_OPS_WEBHOOK", value)
    (result,) = notify(schedule, job_of(schedule), ["ops"], notice_of(schedule))
    assert result.error == f"webhook of target 'ops' (IWM_OPS_WEBHOOK): IWM_OPS_WEBHOOK {problem}"
    assert "s3cret" not in outbox_text(schedule)


def test_no_secret_in_outbox_log_or_errors(
    schedule: Schedule, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="iwm_lab")
    with SmtpSink(user="reports", password=PASSWORD) as smtp, HttpSink(status=500) as hook:
        monkeypatch.setenv("IWM_SMTP_URL", smtp.url)
        monkeypatch.setenv("IWM_SMTP_PASSWORD", WRONG_PASSWORD)
        monkeypatch.setenv("IWM_OPS_WEBHOOK", hook.url)
        # A notebook error quoting both secrets must not carry them into a message either.
        error = f"ValueError: could not post to {hook.url} with {WRONG_PASSWORD}"
        notice = notice_of(schedule, status=FAILED, error=error)
        results = notify(schedule, job_of(schedule), ["analysts", "ops"], notice)
        assert [r.sent for r in results] == [False, False]
        monkeypatch.setenv("IWM_SMTP_PASSWORD", PASSWORD)
        hook.status = 200
        assert [r.sent for r in flush(schedule)] == [True, True]
        (mail,) = smtp.wait(1)
        (_, post) = hook.wait(2)

    token = "/hooks/T0001/B0002/s3cretWebhookToken"
    assert "HTTP 500" in caplog.text and "authentication failed" in caplog.text
    seen = {
        "outbox": outbox_text(schedule),
        "log": caplog.text,
        "results": repr(results),
        "mail": mail.message.as_string(),
        "webhook": post.body.decode(),
    }
    for where, text in seen.items():
        for secret in (PASSWORD, WRONG_PASSWORD, hook.url, token):
            assert secret not in text, f"{secret!r} in {where}"
    assert "could not post to [redacted] with [redacted]" in seen["webhook"]


def test_an_unreachable_server_is_tried_once_per_pass(
    schedule: Schedule, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IWM_SMTP_URL", f"smtp://127.0.0.1:{closed_port()}")
    job = job_of(schedule)
    notify(schedule, job, ["analysts"], notice_of(schedule))
    later = notice_of(schedule, run_id="20261201T060000Z-def456")
    first, second = notify(schedule, job, ["analysts"], later)
    assert first.attempts == 2 and "connection refused" in (first.error or "")
    assert second.attempts == 0 and "not tried, cannot connect" in (second.error or "")
    assert [e["attempts"] for e in outbox(schedule)] == [2, 0]


def test_flush_leaves_a_job_another_process_is_sending(schedule: Schedule, hook: HttpSink) -> None:
    hook.status = 500
    notify(schedule, job_of(schedule), ["ops"], notice_of(schedule))
    hook.status = 200
    lock = schedule.output_dir / "overview" / delivery.SEND_LOCK
    with open(lock, "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        assert flush(schedule) == []
    assert [r.sent for r in flush(schedule)] == [True]
    assert len(hook.received) == 2


def test_concurrent_notifies_lose_no_entry_and_send_each_once(
    schedule: Schedule, hook: HttpSink
) -> None:
    job = job_of(schedule)
    notices = [notice_of(schedule, run_id=f"20261130T0600{i:02d}Z-abc123") for i in range(8)]
    threads = [threading.Thread(target=notify, args=(schedule, job, ["ops"], n)) for n in notices]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    posts = hook.wait(8)
    assert sorted(p.json["run_id"] for p in posts) == sorted(n.run_id or "" for n in notices)
    entries = outbox(schedule)
    assert len(entries) == 8 and {e["status"] for e in entries} == {"sent"}


def test_the_same_notice_twice_is_one_entry(schedule: Schedule, hook: HttpSink) -> None:
    notice = notice_of(schedule)
    notify(schedule, job_of(schedule), ["ops"], notice)
    assert notify(schedule, job_of(schedule), ["ops"], notice) == []
    assert len(outbox(schedule)) == 1 and len(hook.received) == 1


def test_outbox_keeps_200_sent_entries_and_every_pending_one(
    schedule: Schedule, hook: HttpSink
) -> None:
    job = job_of(schedule)
    base = notice_of(schedule)
    old = []
    for i in range(205):
        entry = OutboxEntry.create(replace(base, run_id=f"old-{i:03d}"), "ops", "webhook")
        entry.status, entry.sent_at, entry.attempts = (
            "sent",
            f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}+00:00",
            1,
        )
        old.append(asdict(entry))
    stuck = [
        OutboxEntry.create(replace(base, run_id=f"stuck-{i}"), "broken", "webhook")
        for i in range(3)
    ]
    for entry in stuck:
        entry.created = "2025-01-01T00:00:00+00:00"
    (schedule.output_dir / "overview" / delivery.OUTBOX_FILE).write_text(
        json.dumps({"entries": old + [asdict(e) for e in stuck]})
    )  # fmt: skip

    results = notify(schedule, job, ["ops"], base)
    assert sorted((r.target, r.sent) for r in results) == [("broken", False)] * 3 + [("ops", True)]
    entries = outbox(schedule)
    sent = [e["notice"]["run_id"] for e in entries if e["status"] == "sent"]
    assert len(sent) == 200 and RUN_ID in sent
    assert "old-000" not in sent and "old-005" not in sent and "old-006" in sent
    waiting = pending_deliveries(schedule, job)
    assert [e.notice.run_id for e in waiting] == ["stuck-0", "stuck-1", "stuck-2"]
    assert "IWM_BROKEN_WEBHOOK is not set" in waiting[0].describe()
    assert "pending for 1 year" in waiting[0].describe()


def test_a_damaged_outbox_is_moved_aside_and_delivery_goes_on(
    schedule: Schedule, hook: HttpSink
) -> None:
    folder = schedule.output_dir / "overview"
    folder.mkdir(parents=True)
    (folder / delivery.OUTBOX_FILE).write_text("{not json")
    (result,) = notify(schedule, job_of(schedule), ["ops"], notice_of(schedule))
    assert result.sent
    (aside,) = folder.glob(f"{delivery.OUTBOX_FILE}.damaged-*")
    assert aside.read_text() == "{not json"


# --- secrets ------------------------------------------------------------------------------


def test_redactor_hides_the_mail_password_and_webhook_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    hook_url = "https://hooks.example.org/services/T0001/B0002/s3cretWebhookToken"
    monkeypatch.setenv("IWM_SMTP_PASSWORD", PASSWORD)
    monkeypatch.setenv("IWM_SMTP_URL", f"smtp://reports:{WRONG_PASSWORD}@mail.example.org:587")
    monkeypatch.setenv("IWM_OPS_WEBHOOK", hook_url)
    text = (
        f"password {PASSWORD} / url password {WRONG_PASSWORD} / hook {hook_url} / "
        "path /services/T0001/B0002/s3cretWebhookToken / host mail.example.org"
    )
    redacted = Redactor.from_environment(extra_env=["IWM_OPS_WEBHOOK"]).text(text)
    for secret in (PASSWORD, WRONG_PASSWORD, "s3cretWebhookToken"):
        assert secret not in redacted
    assert "host mail.example.org" in redacted  # what is no secret stays readable
    # Without the variable's name, a webhook URL is not known to be secret.
    assert "s3cretWebhookToken" in Redactor.from_environment().text(text)


@pytest.mark.parametrize(
    ("encrypted", "peer", "allowed"),
    [(True, "203.0.113.5", True), (False, "127.0.0.1", True), (False, "::1", True),
     (False, "203.0.113.5", False), (False, None, False)],
)  # fmt: skip
def test_a_password_goes_in_the_clear_only_to_this_machine(
    encrypted: bool, peer: str | None, allowed: bool
) -> None:
    assert delivery.may_send_password(encrypted, peer) is allowed
