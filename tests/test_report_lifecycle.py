"""What happens around a scheduled run, end to end: real kernels, a real PostgreSQL 16, a mail
server and a webhook receiver on 127.0.0.1.

Gates hold a run and ``latest`` stays; a held run is published by hand; failures and successes
reach their targets; an undeliverable message waits and the next ``run-due`` sends it; an
alert fires, is silenced by its grace and resolves; an unchanged database gives "skipped
(unchanged)" and an import makes the next ``run-due`` run; retention keeps what it must; a
run past ``timeout_s`` is stopped; only an unreachable database is retried; ``serve`` ends
after its current run on SIGTERM.

Each ``run_due`` call is given its own ``now`` one minute after the previous one, with a
schedule that is due every minute, so every call has exactly one slot to run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from sqlalchemy.engine import URL

from iwm_lab.reports.due import run_due
from iwm_lab.reports.publish import publish_held
from iwm_lab.reports.runner import run_report
from iwm_lab.reports.schedule import Schedule, load_schedule
from iwm_lab.reports.state import job_dir, latest_run_id, read_state
from iwm_lab.settings import get_settings
from tests.sinks import HttpSink, SmtpSink, closed_port

pytestmark = [pytest.mark.kernel, pytest.mark.slow]

IWM_LAB = Path(sys.executable).parent / "iwm-lab"
START = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)

PARAMETERS = """\
from typing import Optional

n: int = 3
fail: bool = False
sleep_s: float = 0.0
pid_file: str = ""
stale: str = ""
as_of: Optional[str] = None
"""
BODY = """\
import os
import time

from IPython.display import Markdown, display

import iwm_lab
from iwm_lab.reports import record

if pid_file:
    with open(pid_file, "w") as handle:
        handle.write(str(os.getpid()))
conn = iwm_lab.connect()
record("as_of", as_of)
record("answer", n * 14)
record("stale", [s for s in stale.split(",") if s])
display(Markdown(f"The answer is {n * 14}."))
time.sleep(sleep_s)
if fail:
    raise RuntimeError("boom: failed on purpose")
"""


def write_notebook(path: Path) -> Path:
    nb = new_notebook()
    nb.cells = [new_code_cell(PARAMETERS, metadata={"tags": ["parameters"]}), new_code_cell(BODY)]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)
    return path


class Lab:
    """A folder with the notebook, a schedule written per test, and a clock for run_due."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.notebook = write_notebook(folder / "lifecycle.ipynb")
        self.path = folder / "schedule.toml"
        self.output = folder / "output"
        self.now = START

    def schedule(self, report: str, head: str = "") -> Schedule:
        """Write the schedule: ``head`` (targets, delivery) and report ``life``'s own keys."""
        self.path.write_text(
            f'{head}\n[reports.life]\nnotebook = "lifecycle.ipynb"\ncron = "* * * * *"\n{report}\n'
        )
        return load_schedule(self.path, self.output)

    def run_due(self, schedule: Schedule, **options: Any) -> Any:
        self.now += timedelta(minutes=1)
        [outcome] = run_due(schedule, now=self.now, **options)
        return outcome

    def state(self, schedule: Schedule) -> Any:
        [job] = schedule.jobs()
        return read_state(job_dir(schedule, job), job.key, job.label)

    def latest(self, schedule: Schedule) -> str | None:
        [job] = schedule.jobs()
        return latest_run_id(job_dir(schedule, job))


@pytest.fixture
def lab(tmp_path: Path, db_url: URL, monkeypatch: pytest.MonkeyPatch) -> Iterator[Lab]:
    """A lab on the module's migrated database; kernels and workers inherit the URL."""
    monkeypatch.setenv("IWM_DATABASE_URL", db_url.render_as_string(hide_password=False))
    for name in ("IWM_SMTP_URL", "IWM_SMTP_PASSWORD", "IWM_HOOK"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield Lab(tmp_path)
    get_settings.cache_clear()


def targets(smtp: SmtpSink | None = None) -> str:
    mail = '[targets.team]\nemail = ["team@example.org"]\n' if smtp else ""
    return mail + '[targets.hook]\nwebhook = "${IWM_HOOK}"\n'


@pytest.mark.heavy
def test_a_failing_check_holds_the_run_until_it_is_published_by_hand(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    with HttpSink() as hook:
        monkeypatch.setenv("IWM_HOOK", hook.url)
        keys = (
            'deliver = ["hook"]\nnotify_failure = ["hook"]\n'
            'checks = [{ record = "answer", max = 40 }]\n'
        )
        schedule = lab.schedule(f"parameters = {{ n = 2 }}\n{keys}", targets())
        good = lab.run_due(schedule)
        assert good.status == "success", good.message
        good_id = lab.latest(schedule)
        assert good_id is not None

        schedule = lab.schedule(f"parameters = {{ n = 3 }}\n{keys}", targets())
        held = lab.run_due(schedule)
        assert held.status == "held"
        record = lab.state(schedule).runs[0]
        assert record.status == "held"
        assert record.held_reasons and "answer" in record.held_reasons[0]
        assert "42" in record.held_reasons[0] and "40" in record.held_reasons[0]
        # Kept and viewable, but not published.
        assert lab.latest(schedule) == good_id
        assert (lab.output / "life" / record.run_id / "life.html").is_file()
        index = (lab.output / "index.html").read_text()
        assert record.run_id in index and "iwm-lab report publish life" in index
        hook.wait_for(2)
        kinds = [body["kind"] for body in hook.bodies]
        assert kinds == ["success", "held"]
        assert hook.bodies[1]["figures"]["answer"] == 42

        publish_held(schedule, "life", record.run_id)
        assert lab.latest(schedule) == record.run_id
        published = lab.state(schedule).runs[0]
        assert published.status == "success" and published.published
        hook.wait_for(3)
        assert hook.bodies[2]["kind"] == "success" and hook.bodies[2]["run_id"] == record.run_id


def test_delivery_by_mail_and_webhook_waits_in_the_outbox_when_the_server_is_down(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    with HttpSink() as hook:
        monkeypatch.setenv("IWM_HOOK", hook.url)
        # The mail server is not up yet: the run succeeds, the mail waits.
        monkeypatch.setenv("IWM_SMTP_URL", f"smtp://127.0.0.1:{closed_port()}")
        head = targets(smtp=SmtpSink()) + '[delivery]\nbase_url = "https://reports.example.org/"\n'
        schedule = lab.schedule('deliver = ["team", "hook"]\nnotify_failure = ["hook"]\n', head)
        first = lab.run_due(schedule)
        assert first.status == "success", first.message
        run_id = lab.latest(schedule)
        hook.wait_for(1)
        assert hook.bodies[0]["figures"]["answer"] == 42
        outbox = json.loads((lab.output / "life" / "outbox.json").read_text())
        pending = [e for e in json.dumps(outbox).split('"status": ') if e.startswith('"pending"')]
        assert pending, outbox

        with SmtpSink() as smtp:
            monkeypatch.setenv("IWM_SMTP_URL", smtp.url)
            # Nothing is due at this minute: run-due only sends what waited.
            assert run_due(schedule, now=lab.now) == []
            [mail] = smtp.wait_for(1)
            body = mail.get_body(("plain",))
            assert body is not None
            text = body.get_content()
            assert "The answer is 42" in text and "answer" in text
            assert f"https://reports.example.org/life/{run_id}/life.html" in text
        # Sent once, and the run was neither re-run nor republished.
        assert lab.latest(schedule) == run_id and len(lab.state(schedule).runs) == 1
        assert run_due(schedule, now=lab.now) == []

        schedule = lab.schedule(
            'parameters = { fail = true }\ndeliver = ["hook"]\nnotify_failure = ["hook"]\n', head
        )
        failed = lab.run_due(schedule)
        assert failed.status == "failed"
        hook.wait_for(2)
        assert hook.bodies[1]["kind"] == "failed" and "boom" in hook.bodies[1]["error"]
        assert lab.latest(schedule) == run_id


@pytest.mark.heavy
def test_an_alert_fires_once_is_silenced_by_its_grace_and_resolves(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    with HttpSink() as hook:
        monkeypatch.setenv("IWM_HOOK", hook.url)
        alert = (
            'alerts = [{ record = "answer", op = ">", value = 30, notify = ["hook"], '
            'grace = "1h" }, { record = "stale", when = "has_rows", notify = ["hook"] }]\n'
        )
        kinds = []
        for n, stale in ((3, ""), (3, "reviews"), (1, "reviews"), (3, "")):
            schedule = lab.schedule(
                f'parameters = {{ n = {n}, stale = "{stale}" }}\n{alert}', targets()
            )
            outcome = lab.run_due(schedule)
            assert outcome.status == "success", outcome.message
            time.sleep(0.2)
            kinds.append([(b["kind"], b["reasons"][0].split(" ")[0]) for b in hook.bodies])
            hook.bodies.clear()
        assert kinds == [
            [("alert", "answer")],  # 42 > 30: fires
            [("alert", "stale")],  # still > 30 within the grace: silent; stale has rows
            [("resolved", "answer")],  # 14: cleared; stale still has rows: silent
            [("alert", "answer"), ("resolved", "stale")],
        ]
        assert (lab.output / "life" / "alerts.json").is_file()


@pytest.mark.heavy
def test_an_unchanged_database_is_skipped_and_an_import_makes_the_next_run_due_run(
    lab: Lab, db_url: URL, tmp_path: Path
) -> None:
    schedule = lab.schedule('run_when = "data_changed"\n')
    first = lab.run_due(schedule)
    assert first.status == "success", first.message
    began = time.perf_counter()
    skipped = lab.run_due(schedule)
    took = time.perf_counter() - began
    assert skipped.status == "skipped" and skipped.message.startswith("unchanged"), skipped
    print(f"skipped (unchanged) run-due: {took * 1000:.0f} ms")
    runs = lab.state(schedule).runs
    assert [r.status for r in runs] == ["skipped", "success"]
    assert runs[0].slot is not None and lab.state(schedule).last_slot == runs[0].slot

    extract = tmp_path / "genres.csv"
    extract.write_text("id,name,slug\n9001,Import test,import-test\n")
    env = {k: v for k, v in os.environ.items() if k != "IWM_DATABASE_URL"}
    env["IWM_DATABASE_URL"] = db_url.render_as_string(hide_password=False)
    done = subprocess.run(
        [str(IWM_LAB), "import", "genres", str(extract)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    after_import = lab.run_due(schedule)
    assert after_import.status == "success", after_import.message
    forced = lab.run_due(schedule, force=True)
    assert forced.status == "success"
    assert [r.status for r in lab.state(schedule).runs] == [
        "success",
        "success",
        "skipped",
        "success",
    ]


@pytest.mark.heavy
def test_run_due_prunes_what_retention_does_not_keep(lab: Lab) -> None:
    schedule = lab.schedule("retention = { keep_last = 2 }\n")
    for _ in range(3):
        assert lab.run_due(schedule).status == "success"
    runs = lab.state(schedule).runs
    kept = sorted(p.name for p in (lab.output / "life").iterdir() if p.name[:1].isdigit())
    assert kept == sorted(r.run_id for r in runs[:2])
    assert runs[2].pruned and lab.latest(schedule) == runs[0].run_id


def test_a_run_past_its_timeout_is_stopped_and_latest_stays(lab: Lab, tmp_path: Path) -> None:
    pid_file = tmp_path / "kernel.pid"
    lab.schedule(f'timeout_s = 4\nparameters = {{ sleep_s = 120.0, pid_file = "{pid_file}" }}\n')
    began = time.perf_counter()
    [result] = run_report(load_schedule(lab.path, lab.output), "life", progress_bar=False)
    took = time.perf_counter() - began
    assert result.record.status == "timed_out", result.record.error
    assert "timed out after 4 s" in (result.record.error or "")
    assert took < 60
    kernel = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while _alive(kernel) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(kernel), "the kernel still runs"
    assert lab.latest(load_schedule(lab.path, lab.output)) is None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose: it runs no code.
    with open(f"/proc/{pid}/stat") as handle:
        return handle.read().split(") ")[1][0] != "Z"


def test_only_an_unreachable_database_is_retried(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    schedule = lab.schedule("retries = 2\nretry_backoff_s = 0.3\nparameters = { fail = true }\n")
    [own_error] = run_report(schedule, "life", progress_bar=False)
    assert own_error.record.status == "failed" and own_error.record.attempts == 1

    monkeypatch.setenv(
        "IWM_DATABASE_URL", f"postgresql+psycopg://analyst@127.0.0.1:{closed_port()}/iwm"
    )
    get_settings.cache_clear()
    schedule = lab.schedule("retries = 2\nretry_backoff_s = 0.3\n")
    began = time.perf_counter()
    [unreachable] = run_report(schedule, "life", progress_bar=False)
    took = time.perf_counter() - began
    assert unreachable.record.unreachable and unreachable.record.attempts == 3
    assert took >= 0.3 + 0.6


@pytest.mark.heavy
def test_serve_finishes_the_current_run_on_sigterm(lab: Lab, db_url: URL) -> None:
    lab.schedule("parameters = { sleep_s = 4.0 }\n")
    env = {k: v for k, v in os.environ.items()}
    env["IWM_DATABASE_URL"] = db_url.render_as_string(hide_password=False)
    serve = subprocess.Popen(
        [
            str(IWM_LAB),
            "report",
            "--schedule",
            str(lab.path),
            "--output",
            str(lab.output),
            "serve",
            "--every",
            "1",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    staging = lab.output / "life" / ".staging"
    deadline = time.monotonic() + 120
    while not (staging.is_dir() and any(staging.iterdir())) and time.monotonic() < deadline:
        assert serve.poll() is None, serve.communicate()
        time.sleep(0.1)
    serve.send_signal(signal.SIGTERM)
    out, err = serve.communicate(timeout=120)
    assert serve.returncode == 0, err
    assert "stopping after the current runs" in err
    schedule = load_schedule(lab.path, lab.output)
    [run] = lab.state(schedule).runs
    assert run.status == "success" and lab.latest(schedule) == run.run_id
    assert "stopped after 1 round(s), 1 run(s)" in out


def test_no_secret_reaches_state_outbox_or_output(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret_hook = "http://127.0.0.1:9/hook-token-Xy7Qz"
    monkeypatch.setenv("IWM_HOOK", secret_hook)
    monkeypatch.setenv("IWM_SMTP_URL", f"smtp://mailer@127.0.0.1:{closed_port()}")
    monkeypatch.setenv("IWM_SMTP_PASSWORD", "SmtpSecret-42x")
    schedule = lab.schedule(
        'deliver = ["team", "hook"]\nnotify_failure = ["hook"]\n', targets(smtp=SmtpSink())
    )
    assert lab.run_due(schedule).status == "success"
    written = "".join(p.read_text(errors="replace") for p in lab.output.rglob("*") if p.is_file())
    for secret in ("hook-token-Xy7Qz", "SmtpSecret-42x"):
        assert secret not in written
    assert "IWM_HOOK" in (lab.output / "life" / "outbox.json").read_text()


@pytest.mark.heavy
def test_a_message_problem_never_fails_a_published_run(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IWM_HOOK", f"http://127.0.0.1:{closed_port()}/hook")
    alert = 'alerts = [{ record = "answer", op = ">", value = 1, notify = ["hook"] }]\n'
    schedule = lab.schedule(f'deliver = ["hook"]\n{alert}', targets())
    (lab.output / "life").mkdir(parents=True)
    (lab.output / "life" / "alerts.json").write_text("{damaged")
    outcome = lab.run_due(schedule)
    assert outcome.status == "success", outcome.message
    [run] = lab.state(schedule).runs
    assert run.status == "success" and lab.latest(schedule) == run.run_id
    # The alert state is left for a person to look at, not reset (which would re-fire).
    assert (lab.output / "life" / "alerts.json").read_text() == "{damaged"
