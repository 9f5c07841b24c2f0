"""The command line: every command documented, works end to end against the test server."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from sqlalchemy import text

from iwm_lab.cli import cli
from iwm_lab.database import get_engine
from iwm_lab.server import EmbeddedServer

README = Path(__file__).resolve().parent.parent / "README.md"


def _commands(group: click.Group, prefix: str = "iwm-lab") -> list[str]:
    found = []
    for name, command in sorted(group.commands.items()):
        path = f"{prefix} {name}"
        if isinstance(command, click.Group):
            found.extend(_commands(command, path))
        else:
            found.append(path)
    return found


@pytest.mark.parametrize("command", _commands(cli))
def test_every_command_is_documented_in_the_readme(command: str) -> None:
    readme = README.read_text()
    assert re.search(rf"`{re.escape(command)}( |`)", readme), f"README does not document {command}"


def _options(command: click.Command, path: str = "iwm-lab") -> list[tuple[str, list[str]]]:
    """(command path, the option's names) for every option but ``--help``, groups' included."""
    found = [(path, param.opts) for param in command.params if isinstance(param, click.Option)]
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            found.extend(_options(sub, f"{path} {name}"))
    return found


def _readme_blocks() -> list[str]:
    """The README's table rows, one each, and its other paragraphs."""
    blocks: list[str] = []
    paragraph: list[str] = []
    for line in [*README.read_text().splitlines(), ""]:
        if line.startswith("|") or not line.strip():
            blocks.append("\n".join(paragraph))
            paragraph = []
            if line.startswith("|"):
                blocks.append(line)
        else:
            paragraph.append(line)
    return [block for block in blocks if block]


@pytest.mark.parametrize(
    ("command", "option"),
    [pytest.param(path, names, id=f"{path} {'/'.join(names)}") for path, names in _options(cli)],
)
def test_every_option_is_documented_with_its_command_in_the_readme(
    command: str, option: list[str]
) -> None:
    """A table row or paragraph of the README that names the command (a group's options: the
    group or any of its commands) in a code span mentions the option by one of its names."""
    names_command = re.compile(rf"`{re.escape(command)}( [^`]*)?`")
    names = "|".join(re.escape(name) for name in option)
    mentions_option = re.compile(rf"(?<![\w-])({names})(?![\w-])")
    assert any(
        names_command.search(block) and mentions_option.search(block) for block in _readme_blocks()
    ), f"README does not document {'/'.join(option)} of {command}"


def run(cli_env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["iwm-lab", *args], env=cli_env, capture_output=True, text=True, timeout=300
    )


def test_version_is_the_installed_packages(cli_env: dict[str, str]) -> None:
    done = run(cli_env, "--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"iwm-lab {version('iwm-lab')}\n"


# What `--help`, `--version` and `report list` must not wait for: each takes a noticeable
# part of a second (papermill's nbformat and nbconvert several seconds) to import.
_HEAVY = (
    "sqlalchemy",
    "alembic",
    "psycopg",
    "pandas",
    "plotly",
    "papermill",
    "nbformat",
    "nbconvert",
    "jupyter_client",
)
# A fresh interpreter imports the CLI, runs a command line in it if given one, prints which
# of the heavy libraries are loaded then, and exits with the command's status.
_LOADED_AFTER = """
import json, sys
from iwm_lab.cli import cli
status = 0
if len(sys.argv) > 2:
    try:
        cli(sys.argv[2:], prog_name="iwm-lab")
    except SystemExit as exc:
        status = exc.code
print(json.dumps(sorted(name for name in json.loads(sys.argv[1]) if name in sys.modules)))
sys.exit(status)
"""


def _loaded_after(env: dict[str, str], *args: str) -> tuple[int, list[str]]:
    done = subprocess.run(
        [sys.executable, "-c", _LOADED_AFTER, json.dumps(_HEAVY), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in done.stderr, done.stderr
    loaded: list[str] = json.loads(done.stdout.splitlines()[-1])
    return done.returncode, loaded


@pytest.mark.parametrize(
    "args",
    [(), ("--help",), ("--version",), ("db", "--help"), ("report", "list")],
    ids=["import", "--help", "--version", "db --help", "report list"],
)
def test_the_cli_loads_no_heavy_library_it_does_not_use(
    cli_env: dict[str, str], args: tuple[str, ...]
) -> None:
    assert _loaded_after(cli_env, *args) == (0, [])


@pytest.mark.slow
def test_a_command_that_needs_a_heavy_library_still_loads_it(cli_env: dict[str, str]) -> None:
    """The check above sees what is loaded: checking ``db refresh``'s rollup names reads
    the rollups module, which loads SQLAlchemy."""
    status, loaded = _loaded_after(cli_env, "db", "refresh", "no_such_rollup")
    assert status == 2  # click's usage error: not a rollup
    assert "sqlalchemy" in loaded


@pytest.mark.parametrize("command", ["seed", "demo"])
def test_scale_offers_the_demo_datasets(command: str) -> None:
    """``--scale`` lists the scales :mod:`iwm_lab.demodata.scales` defines, in its help and
    when refusing another, before anything starts."""
    from iwm_lab.demodata.scales import SCALES

    shown = CliRunner().invoke(cli, [command, "--help"])
    assert shown.exit_code == 0 and f"[{'|'.join(SCALES)}]" in shown.output
    refused = CliRunner().invoke(cli, [command, "--scale", "huge"])
    assert refused.exit_code == 2
    assert f"is not one of {', '.join(map(repr, SCALES))}" in refused.output


@pytest.mark.slow
def test_status_and_url_of_the_embedded_server(pg_server: object, cli_env: dict[str, str]) -> None:
    status = run(cli_env, "db", "status")
    assert status.returncode == 0, status.stderr
    assert "running" in status.stdout and "16." in status.stdout
    url = run(cli_env, "db", "url")
    assert url.returncode == 0
    assert url.stdout.startswith("postgresql+psycopg://iwm@")
    engine = get_engine(url.stdout.strip())
    with engine.connect() as conn:
        assert conn.execute(text("select current_database()")).scalar_one() == "iwm"
    engine.dispose()


@pytest.mark.slow
@pytest.mark.parametrize("embedded", [True, False], ids=["embedded-url", "other-server"])
def test_server_commands_follow_a_url_only_when_it_names_the_embedded_server(
    pg_server: EmbeddedServer, cli_env: dict[str, str], embedded: bool
) -> None:
    # The reads URL of the embedded server and its standby names the embedded server.
    url = pg_server.url() if embedded else "postgresql+psycopg://analyst@127.0.0.1:1/iwm"
    env = {**cli_env, "IWM_DATABASE_URL": str(url)}
    status = run(env, "db", "status")
    if embedded:
        assert status.returncode == 0 and "running" in status.stdout, status.stderr
    else:
        assert status.returncode == 1
        assert status.stderr.strip().endswith("unset it to manage the embedded server")


@pytest.mark.slow
def test_start_when_running_reports_and_succeeds(
    pg_server: object, cli_env: dict[str, str]
) -> None:
    done = run(cli_env, "db", "start")
    assert done.returncode == 0, done.stderr
    assert "running" in done.stdout


@pytest.mark.slow
@pytest.mark.kernel
def test_demo_end_to_end_then_reuses_everything(
    pg_server: object, cli_env: dict[str, str], tmp_path: Path
) -> None:
    output = tmp_path / "reports"
    first = run(cli_env, "demo", "--scale", "tiny", "--output", str(output))
    assert first.returncode == 0, first.stderr
    assert "loading the tiny demo dataset" in first.stderr
    assert "schema checked" in first.stdout
    movies = re.search(r"^\s*movies\s+(\d+)$", first.stdout, re.MULTILINE)
    assert movies and int(movies.group(1)) > 0
    assert re.search(r"^report ratings: success$", first.stdout, re.MULTILINE)
    assert (output / "index.html").is_file()
    assert f"open {output / 'index.html'}" in first.stdout

    second = run(cli_env, "demo", "--scale", "tiny", "--output", str(output))
    assert second.returncode == 0, second.stderr
    assert "reusing it" in second.stderr
    assert "success" not in second.stdout  # nothing was due again
    current = run(cli_env, "db", "current")
    head = re.search(r"head:\s+(\S+)", current.stdout)
    assert head and f"current: {head.group(1)}" in current.stdout


@pytest.mark.slow
def test_server_commands_refuse_when_an_external_url_is_set(cli_env: dict[str, str]) -> None:
    env = cli_env | {"IWM_DATABASE_URL": "postgresql+psycopg://someone@db.example/iwm"}
    done = run(env, "db", "stop")
    assert done.returncode == 1
    assert done.stderr.startswith("error: IWM_DATABASE_URL is set")


@pytest.mark.slow
def test_bad_database_url_is_a_clear_error(cli_env: dict[str, str]) -> None:
    done = run(cli_env | {"IWM_DATABASE_URL": "mysql://x@y/z"}, "db", "current")
    assert done.returncode == 1
    assert "must point at PostgreSQL" in done.stderr
    assert "Traceback" not in done.stderr


# --- the top-level handler: one `error:` line, never a traceback ---------------------------

# A command added to the real CLI for these tests only, then the real entry point: each KIND
# causes one class of error the way a user's input would.
_FAILING_COMMAND = """
import json, os, sys, time
import click
from sqlalchemy import text
from iwm_lab.cli import cli, main
from iwm_lab.database import get_engine
from iwm_lab.exceptions import IwmLabError
from iwm_lab.reports.signals import Terminated

@cli.command("fail")
@click.argument("kind")
@click.argument("where", required=False)
def fail(kind, where):
    if kind == "iwm":
        raise IwmLabError("the report 'x' is not in the schedule")
    if kind == "value":
        raise ValueError("limit must be a whole number from 1 to 10,000, got 0\\nsecond line")
    if kind == "name-too-long":
        open(os.path.join(where, "x" * 100_000), "w")
    if kind == "read-only":
        open(os.path.join(where, "report.html"), "w")
    if kind == "not-a-folder":
        os.makedirs(os.path.join(where, "sub"))
    if kind == "nested-json":
        json.loads("[" * 200_000 + "]" * 200_000)
    if kind == "closed-port":
        get_engine("postgresql+psycopg://analyst:hunter2@127.0.0.1:1/iwm").connect()
    if kind == "bad-sql":
        with get_engine().connect() as conn:
            conn.execute(text("select * from no_such_table where code = :code"),
                         {"code": "s3cr3t-value"})
    if kind == "bug":
        raise TypeError("unsupported operand")
    if kind == "ctrl-c":
        print("ready", flush=True)
        time.sleep(60)
    if kind == "sigterm":
        raise Terminated()

main()
"""


def fail(
    env: dict[str, str], kind: str, where: str = "", *options: str
) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, "-c", _FAILING_COMMAND, *options, "fail", kind]
    return subprocess.run(
        [*args, where] if where else args, env=env, capture_output=True, text=True, timeout=120
    )


def _read_only_folder(tmp_path: Path) -> str:
    if os.geteuid() == 0:
        return "/sys"  # root writes anywhere it has permission bits for; sysfs refuses it
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    return str(folder)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("iwm", r"error: the report 'x' is not in the schedule"),
        ("value", r"error: limit must be a whole number from 1 to 10,000, got 0"),
        ("name-too-long", r"error: File name too long: .*x\.\.\."),
        ("read-only", r"error: Permission denied: .*report\.html"),
        ("not-a-folder", r"error: Not a directory: .*sub"),
        ("nested-json", r"error: the input is nested too deeply to process"),
        ("closed-port", r'error: database: connection failed: .*"127\.0\.0\.1", port 1 failed'),
        ("bad-sql", r'error: database: relation "no_such_table" does not exist'),
        ("bug", r"error: unexpected TypeError: unsupported operand \(a bug in iwm-lab; "),
    ],
)
def test_every_error_is_one_line_and_exit_1(
    pg_server: object, cli_env: dict[str, str], tmp_path: Path, kind: str, message: str
) -> None:
    where = {
        "name-too-long": str(tmp_path),
        "read-only": _read_only_folder(tmp_path),
        "not-a-folder": "/etc/hostname",
    }.get(kind, "")
    done = fail(cli_env, kind, where)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert re.fullmatch(message + ".*", lines[0]), lines[0]
    assert len(lines[0]) <= 520
    # Never the SQL, its bound values or a password.
    for secret in ("hunter2", "s3cr3t-value", "select *", "[SQL", "sqlalche.me"):
        assert secret not in done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["iwm", "value", "closed-port", "bad-sql", "bug"])
def test_verbose_shows_the_traceback_then_the_same_line(
    pg_server: object, cli_env: dict[str, str], kind: str
) -> None:
    quiet = fail(cli_env, kind)
    loud = fail(cli_env, kind, "", "-v")
    assert loud.returncode == quiet.returncode == 1
    assert loud.stderr.startswith("Traceback (most recent call last):")
    assert loud.stderr.splitlines()[-1] == quiet.stderr.strip()


@pytest.mark.slow
def test_ctrl_c_is_a_short_line_and_exit_130(cli_env: dict[str, str]) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", _FAILING_COMMAND, "fail", "ctrl-c"],
        env=cli_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err.strip() == "interrupted"


@pytest.mark.slow
def test_sigterm_during_a_run_exits_143(cli_env: dict[str, str]) -> None:
    done = fail(cli_env, "sigterm")
    assert done.returncode == 143
    assert done.stderr.strip() == "interrupted"


@pytest.mark.slow
def test_usage_errors_stay_clicks(cli_env: dict[str, str]) -> None:
    done = fail(cli_env, "iwm", "", "--no-such-option")
    assert done.returncode == 2
    assert "No such option" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.slow
def test_an_unreachable_database_in_a_real_command_is_one_line(cli_env: dict[str, str]) -> None:
    """``db partitions`` let the driver's OperationalError through as a traceback."""
    env = cli_env | {"IWM_DATABASE_URL": "postgresql+psycopg://analyst:hunter2@127.0.0.1:1/iwm"}
    done = run(env, "db", "partitions", "--through", "2030-12")
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert "127.0.0.1" in lines[0] and "hunter2" not in done.stderr
