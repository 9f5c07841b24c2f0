"""Issue 10 for reports: no lost slot, short failure messages, bounded parameters, one line.

What was seen: after a database outage (a wrong password) was fixed, ``run-due`` said
"nothing due" and that day's report was lost; a huge integer parameter put the whole SQL
statement and its bound values in the failure message (index, hook, mail); a 100 KB parameter
ended in ``OSError: File name too long`` after a minute. Each test reproduces the sequence
against the embedded PostgreSQL 16 and real kernels, then asserts the safe behaviour.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from iwm_lab.database import get_engine
from iwm_lab.exceptions import ReportError, ReportParameterError, ScheduleError
from iwm_lab.reports.errors import MAX_MESSAGE, failure_message, lost_database, short_message
from iwm_lab.reports.prepare import prepare
from iwm_lab.reports.runner import job_dir
from iwm_lab.reports.schedule import load_schedule, parse_schedule
from iwm_lab.reports.state import read_state

IWM_LAB = Path(sys.executable).parent / "iwm-lab"
PASSWORD = "KnownSecret123"
BIG = 2**40  # a bigint the query casts to integer: out of range in the database
PARAMETERS = """\
from typing import Optional

flag: str = ""
big: int = 0
ratio: float = 1.0
tags: list[str] = []
options: dict = {}
region: str = "US"
as_of: Optional[str] = None
"""
PROBE = """\
import os

from sqlalchemy import text

import iwm_lab

conn = iwm_lab.connect()
if flag and os.path.exists(flag):
    # The connection goes away mid-run, as when the server restarts.
    conn.execute(text("select pg_terminate_backend(pg_backend_pid())"))
    conn.execute(text("select 1"))
if big:
    conn.execute(text("select cast(:n as integer)"), {"n": big}).scalar_one()
print("done")
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("failures")
    nb = new_notebook()
    nb.cells = [
        new_code_cell(PARAMETERS, metadata={"tags": ["parameters"]}),
        new_code_cell(PROBE),
    ]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, folder / "probe.ipynb")
    (folder / "schedule.toml").write_text(
        '[reports.probe]\nnotebook = "probe.ipynb"\ncron = "0 0 1 1 *"\n'
        'for_each = { region = ["US", "IN"] }\n'
    )
    return folder


def secret(url: URL) -> str:
    return url.set(password=PASSWORD).render_as_string(hide_password=False)


def cli(url: str, schedule: Path, output: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IWM_")}
    env["IWM_DATABASE_URL"] = url
    argv = [str(IWM_LAB), "report", "--schedule", str(schedule), "--output", str(output), *args]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)


def hook_env(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    """The single ``error:`` line a user mistake gets: exit 1, no traceback."""
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


# --- 1. no lost slot --------------------------------------------------------------------------


@pytest.mark.heavy
@pytest.mark.kernel
def test_an_unreachable_database_does_not_use_up_the_slot(
    folder: Path, tiny_url: URL, tmp_path: Path
) -> None:
    """Outage, outage again, connection lost mid-run, then the database is back: the slot's
    report runs (issue 10 saw "nothing due" here), and on_failure is told once, not every
    few minutes."""
    hook = tmp_path / "hook.env"
    flag = tmp_path / "kill.flag"
    schedule = tmp_path / "slot.toml"
    schedule.write_text(
        f'[reports.daily]\nnotebook = "{folder / "probe.ipynb"}"\ncron = "0 0 1 1 *"\n'
        f'parameters = {{ flag = "{flag}" }}\non_failure = "env > \'{hook}\'"\n'
    )
    output = tmp_path / "output"
    job = output / "daily"
    said: list[str] = []

    def run_due(url: str) -> subprocess.CompletedProcess[str]:
        done = cli(url, schedule, output, "run-due")
        said.extend([done.stdout, done.stderr])
        return done

    # A role the server does not know: refused at log-in, as a wrong password is.
    done = run_due(secret(tiny_url.set(username="nobody_here")))
    assert done.returncode == 1
    assert "daily: failed: cannot connect to " in done.stdout
    assert "the slot stays due: the next run-due tries again" in done.stdout
    state = read_state(job, "daily", "daily")
    assert state.last_slot is None and state.runs[0].unreachable
    assert hook_env(hook)["IWM_REPORT_STATUS"] == "failed"
    hook.unlink()
    listed = cli(secret(tiny_url), schedule, output, "list")
    assert "failed (database unreachable, will retry) (due now)" in listed.stdout

    # The server is down (nothing listens there): still due, retried, and said so.
    done = run_due(secret(tiny_url.set(host="127.0.0.1", port=9, query={})))
    assert done.returncode == 1
    assert "retrying: the last attempt could not reach the database" in done.stderr
    assert not hook.exists()  # told once for this slot already

    # The database answers, but the connection is lost mid-run.
    flag.touch()
    done = run_due(secret(tiny_url))
    assert done.returncode == 1 and "retrying:" in done.stderr
    lost = read_state(job, "daily", "daily").runs[0]
    assert lost.status == "failed" and lost.unreachable and lost.run_id in os.listdir(job)
    assert lost.error is not None and "OperationalError" in lost.error
    assert read_state(job, "daily", "daily").last_slot is None
    assert not hook.exists()

    flag.unlink()
    done = run_due(secret(tiny_url))
    assert done.returncode == 0, done.stderr
    assert "retrying:" in done.stderr and "daily: success" in done.stdout
    state = read_state(job, "daily", "daily")
    assert state.last_slot == f"{datetime.now(UTC).year}-01-01T00:00:00+00:00"
    assert [r.status for r in state.runs] == ["success", "failed", "failed", "failed"]
    assert os.readlink(job / "latest") == state.runs[0].run_id
    done = run_due(secret(tiny_url))
    assert done.returncode == 0 and done.stdout.strip() == "nothing due"
    for text_ in said:
        assert PASSWORD not in text_


def test_only_a_lost_connection_counts_as_unreachable() -> None:
    # Messages as the kernel reports them (ename, evalue).
    assert lost_database(
        "OperationalError",
        "(psycopg.OperationalError) connection failed: connection to server on socket "
        '"/tmp/x/.s.PGSQL.5432" failed: No such file or directory',
    )
    assert lost_database(
        "OperationalError",
        "(psycopg.errors.AdminShutdown) terminating connection due to administrator command",
    )
    assert lost_database("DatabaseUnavailable", "cannot connect to iwm on /tmp/x: refused")
    # A statement timeout, a bad query, or a Python error mentioning connections: the
    # report's own failure, which uses up its slot (no retry every few minutes).
    assert not lost_database(
        "OperationalError",
        "(psycopg.errors.QueryCanceled) canceling statement due to statement timeout",
    )
    assert not lost_database("ProgrammingError", "(psycopg.errors.UndefinedTable) relation")
    assert not lost_database("RuntimeError", "server closed the connection unexpectedly")


# --- 2. failure messages without SQL or bound values -------------------------------------------


@pytest.mark.heavy
@pytest.mark.kernel
def test_a_failure_message_has_no_sql_text_or_bound_values(
    folder: Path, tiny_url: URL, tmp_path: Path
) -> None:
    """The huge-integer case of issue 10: the database refuses a bound value; the message
    everyone gets (terminal, run.json, state, index, hook) names the error, not the query."""
    hook = tmp_path / "hook.env"
    schedule = tmp_path / "big.toml"
    schedule.write_text(
        f'[reports.big]\nnotebook = "{folder / "probe.ipynb"}"\ncron = "0 0 1 1 *"\n'
        f"parameters = {{ big = {BIG} }}\non_failure = \"env > '{hook}'\"\n"
    )
    output = tmp_path / "output"
    done = cli(secret(tiny_url), schedule, output, "run-due")
    assert done.returncode == 1
    state = read_state(output / "big", "big", "big")
    [run] = state.runs
    assert run.error is not None
    assert re.fullmatch(
        r"cell \[\d+\]: DataError: \(psycopg.errors.NumericValueOutOfRange\) integer out of range",
        run.error,
    ), run.error
    assert not run.unreachable
    assert state.last_slot is not None  # the report's own failure uses up its slot
    index = (output / "index.html").read_text()
    errors = re.findall(r'<div class="error">(.*?)</div>', index, re.S)
    run_json = json.loads((output / "big" / run.run_id / "run.json").read_text())
    assert "integer out of range" in hook_env(hook)["IWM_REPORT_ERROR"]
    for shown in [done.stdout, done.stderr, run_json["error"], *errors, hook.read_text()]:
        for leak in ("select cast", "[SQL", "[parameters", str(BIG), "sqlalche.me", PASSWORD):
            assert leak not in shown, (leak, shown)
    assert "integer out of range" in done.stdout and errors
    # The executed notebook keeps the whole traceback, for whoever debugs the report.
    assert "select cast" in (output / "big" / run.run_id / "big.ipynb").read_text()


def _database_error(url: URL, sql: str, **params: object) -> DBAPIError:
    engine = get_engine(url)
    try:
        with pytest.raises(DBAPIError) as caught, engine.connect() as conn:
            conn.execute(text(sql), params)
    finally:
        engine.dispose()
    return caught.value


def test_database_errors_are_cut_to_their_first_line(tiny_url: URL) -> None:
    long_text = "9" * 200 + "x"
    cases = [
        (_database_error(tiny_url, "select cast(:n as integer)", n=BIG), "integer out of range"),
        (_database_error(tiny_url, "select cast(:s as integer)", s=long_text), "[value left out]"),
        (
            _database_error(tiny_url, f"select '{long_text}' from movies wher frob"),
            'syntax error at or near "frob"',
        ),
    ]
    for error, expected in cases:
        full = str(error)
        assert "[SQL: " in full  # what SQLAlchemy says, and what must not travel
        message = failure_message(type(error).__name__, full, 4)
        assert message.startswith(f"cell [4]: {type(error).__name__}: (psycopg.")
        assert expected in message and "\n" not in message
        for leak in ("[SQL", "[parameters", "LINE 1", long_text, str(BIG), "sqlalche.me"):
            assert leak not in message
    # A message of any length is capped; an empty one still names the exception.
    assert len(short_message("boom " * 10_000)) == MAX_MESSAGE
    assert failure_message("KeyError", "") == "KeyError"


# --- 3. bounded parameters --------------------------------------------------------------------


@pytest.mark.heavy
@pytest.mark.slow
def test_a_100_kb_parameter_is_one_line_before_anything_runs(
    folder: Path, tiny_url: URL, tmp_path: Path
) -> None:
    output = tmp_path / "output"
    done = cli(
        secret(tiny_url),
        folder / "schedule.toml",
        output,
        "run",
        "probe",
        "-p",
        "region",
        "X" * 100_000,
    )
    # Issue 10: a kernel ran for a minute, then a traceback. Refused up front, nothing written.
    line = one_error_line(done)
    assert "parameter 'region' is 100,000 characters long" in line and len(line) < 300
    assert not output.exists()
    # A value within the bounds but not a region: the error shows it shortened.
    done = cli(
        secret(tiny_url),
        folder / "schedule.toml",
        output,
        "run",
        "probe",
        "-p",
        "region",
        "Y" * 1_000,
    )
    line = one_error_line(done)
    assert "cannot be 'YYYY" in line and "(1,000 characters)" in line and len(line) < 400
    assert not output.exists()
    # A 100 KB parameter name, and a 100 KB report name.
    schedule = folder / "schedule.toml"
    done = cli(secret(tiny_url), schedule, output, "run", "probe", "-p", "n" * 100_000, "1")
    line = one_error_line(done)
    assert "unknown parameter 'nnnn" in line and len(line) < 400
    line = one_error_line(cli(secret(tiny_url), schedule, output, "run", "r" * 100_000))
    assert "no report named 'rrrr" in line and len(line) < 400
    assert not output.exists()


OUT_OF_BOUNDS = [
    ("region", "X" * 1_001, "1,001 characters long"),
    ("big", "9" * 5_000, "5,000 characters long"),
    ("big", str(2**63), "a 64-bit integer"),
    ("big", str(-(2**63) - 1), "a 64-bit integer"),
    ("ratio", "inf", "finite number"),
    ("ratio", "nan", "finite number"),
    ("ratio", "1e999", "finite number"),
    ("tags", ",".join(["a"] * 1_001), "1,001 items"),
    ("tags", "[" * 5_000 + "]" * 5_000, "9,998 characters long"),  # its one item
    ("tags", "a," * 40_000, "command line"),
    ("options", '{"a": {"b": {"c": {"d": 1}}}}', "nested too deeply"),
    ("options", json.dumps({f"k{i}": i for i in range(1_001)}), "1,001 items"),
    ("options", json.dumps({"k": "v" * 1_001}), "1,001 characters long"),
]


@pytest.mark.parametrize(("name", "value", "expected"), OUT_OF_BOUNDS)
def test_parameter_values_are_bounded(
    folder: Path, tmp_path: Path, name: str, value: str, expected: str
) -> None:
    schedule = load_schedule(folder / "schedule.toml", tmp_path / "output")
    started = time.monotonic()
    with pytest.raises(ReportParameterError) as caught:
        prepare(schedule, "probe", {name: value})
    assert time.monotonic() - started < 5
    message = str(caught.value)
    assert expected in message and f"parameter {name!r}" in message
    assert len(message) < 300 and "\n" not in message


def test_values_at_the_bounds_are_taken(folder: Path, tmp_path: Path) -> None:
    schedule = load_schedule(folder / "schedule.toml", tmp_path / "output")
    [job] = prepare(
        schedule,
        "probe",
        {"region": "US", "big": str(2**63 - 1), "tags": ",".join(["a"] * 1_000), "ratio": "-2.5"},
    )
    assert job.parameters["big"] == 2**63 - 1 and len(job.parameters["tags"]) == 1_000


def test_fan_out_folder_names_stay_within_file_name_limits(folder: Path, tmp_path: Path) -> None:
    schedule = load_schedule(folder / "schedule.toml", tmp_path / "output")
    spec = schedule.report("probe")
    one, other = (spec.job({"region": "Z" * 999 + end}) for end in "12")
    assert one.key != other.key and one.file_stem != other.file_stem
    for job in (one, other):
        for part in [*job.key.split("/"), f"{job.file_stem}.ipynb"]:
            assert len(part.encode()) <= 255
        directory = job_dir(schedule, job)
        directory.mkdir(parents=True)  # the file system takes it
        (directory / f"{job.file_stem}.ipynb").touch()
    # Short values keep their readable names.
    assert spec.job({"region": "US"}).key == "probe/region-US"


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ({"for_each": {"region": ["X" * 1_001]}}, "a value of 1,001 characters"),
        ({"for_each": {"region": list(range(1_001))}}, "1,001 values"),
        ({"parameters": {"tags": ["a"] * 1_001}}, "a list of 1,001 items"),
    ],
)
def test_schedule_values_are_bounded(folder: Path, table: dict[str, object], expected: str) -> None:
    raw = {"reports": {"probe": {"notebook": "probe.ipynb", "cron": "0 0 1 1 *", **table}}}
    with pytest.raises(ScheduleError, match=expected):
        parse_schedule(raw, folder / "schedule.toml")
    long_name = {"reports": {"r" * 65: {"notebook": "probe.ipynb", "cron": "0 0 1 1 *"}}}
    with pytest.raises(ScheduleError, match="at most 64 characters"):
        parse_schedule(long_name, folder / "schedule.toml")


# --- 4. one line, never a traceback -----------------------------------------------------------


@pytest.mark.heavy
@pytest.mark.slow
def test_user_mistakes_in_the_report_commands_are_one_line(
    folder: Path, tiny_url: URL, tmp_path: Path
) -> None:
    damaged = tmp_path
    url, schedule = secret(tiny_url), folder / "schedule.toml"
    a_file = damaged / "a-file"
    a_file.write_text("not a folder")
    for command in (["run", "probe", "-p", "region", "US"], ["run-due"], ["index"]):
        line = one_error_line(cli(url, schedule, a_file / "output", *command))
        assert str(a_file) in line and "Not a directory" in line, line

    not_utf8 = damaged / "latin1.toml"
    not_utf8.write_bytes(b'[reports.caf\xe9]\nnotebook = "x.ipynb"\ncron = "0 0 1 1 *"\n')
    assert "is not UTF-8 text" in one_error_line(cli(url, not_utf8, damaged / "out", "list"))

    (damaged / "broken.ipynb").write_text("{ this is not a notebook")
    broken = damaged / "broken.toml"
    broken.write_text('[reports.broken]\nnotebook = "broken.ipynb"\ncron = "0 0 1 1 *"\n')
    line = one_error_line(cli(url, broken, damaged / "out", "run", "broken"))
    assert "broken.ipynb cannot be read" in line

    output = damaged / "out-state"
    (output / "probe" / "region-US").mkdir(parents=True)
    (output / "probe" / "region-US" / "state.json").write_text("{ half a file")
    line = one_error_line(cli(url, schedule, output, "list"))
    assert "state.json" in line and "cannot read" in line
    with pytest.raises(ReportError, match="cannot read"):
        read_state(output / "probe" / "region-US", "k", "k")
