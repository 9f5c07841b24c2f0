"""The command line: every command documented, works end to end against the test server."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import click
import pytest
from sqlalchemy import text

from iwm_lab.cli import cli
from iwm_lab.database import get_engine

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


def run(cli_env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["iwm-lab", *args], env=cli_env, capture_output=True, text=True, timeout=300
    )


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


def test_start_when_running_reports_and_succeeds(
    pg_server: object, cli_env: dict[str, str]
) -> None:
    done = run(cli_env, "db", "start")
    assert done.returncode == 0, done.stderr
    assert "running" in done.stdout


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


def test_server_commands_refuse_when_an_external_url_is_set(cli_env: dict[str, str]) -> None:
    env = cli_env | {"IWM_DATABASE_URL": "postgresql+psycopg://someone@db.example/iwm"}
    done = run(env, "db", "stop")
    assert done.returncode == 1
    assert done.stderr.startswith("error: IWM_DATABASE_URL is set")


def test_bad_database_url_is_a_clear_error(cli_env: dict[str, str]) -> None:
    done = run(cli_env | {"IWM_DATABASE_URL": "mysql://x@y/z"}, "db", "current")
    assert done.returncode == 1
    assert "must point at PostgreSQL" in done.stderr
    assert "Traceback" not in done.stderr
