"""``iwm-lab import`` against hostile and careless inputs (issue 10): it loses nothing.

Each test reproduces what was seen (a traceback, rows committed while their rejects were lost,
a reject file overwritten, a misaligned reject row, a misleading message, a gigabyte of
memory) and asserts the safe behaviour on a real PostgreSQL: one clear line, and either
every good row with every bad one written aside, or nothing at all.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from iwm_lab.database import get_engine
from iwm_lab.exceptions import DatabaseUnavailable, ImportFailed, ImportRejected
from iwm_lab.importing import import_file, readers
from iwm_lab.importing.conversion import MAX_TEXT_CHARS

pytestmark = pytest.mark.slow


@pytest.fixture
def fresh_url(make_database: Callable[..., URL], template_name: str) -> URL:
    return make_database("hostile", template=template_name)


@pytest.fixture
def fresh(fresh_url: URL) -> Iterator[Engine]:
    engine = get_engine(fresh_url, writable=True)
    yield engine
    engine.dispose()


def count(engine: Engine, table: str = "movies") -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"select count(*) from {table}")).scalar_one())


def titles(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(text("select title from movies order by id")).scalars())


def good_and_bad(tmp_path: Path, name: str = "movies") -> Path:
    """Two good rows and one whose runtime is not a number (line 3)."""
    path = tmp_path / f"{name}.csv"
    path.write_text("title,runtime\nDune,155\nHeat,long\nAlien,117\n")
    return path


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def run_cli(
    url: URL, cli_env: dict[str, str], *args: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    env = cli_env | {"IWM_DATABASE_URL": url.render_as_string(hide_password=False)}
    return subprocess.run(
        ["iwm-lab", "import", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def assert_one_error_line(done: subprocess.CompletedProcess[str], starts: str) -> None:
    assert done.returncode == 1, done.stdout
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith(f"error: {starts}"), done.stderr


# --- reject files: checked before anything loads, kept, in place before the commit ------------


def test_an_unwritable_reject_folder_refuses_before_anything_loads(
    fresh: Engine, tmp_path: Path
) -> None:
    # Seen: good rows committed, then PermissionError while writing the rejects, which were lost.
    # /proc refuses new files even to root.
    with pytest.raises(ImportRejected) as refused:
        import_file(
            fresh, "movies", good_and_bad(tmp_path), skip_bad=True, reject_path="/proc/r.csv"
        )
    assert str(refused.value).startswith("cannot write the reject file /proc/r.csv: ")
    assert str(refused.value).endswith("; nothing imported")
    assert count(fresh) == 0


def test_a_missing_reject_folder_is_an_error_not_created(fresh: Engine, tmp_path: Path) -> None:
    rejects = tmp_path / "no" / "such" / "r.csv"
    with pytest.raises(ImportRejected) as refused:
        import_file(fresh, "movies", good_and_bad(tmp_path), skip_bad=True, reject_path=rejects)
    # The library says what is wrong; the CLI adds the flag (--reject-file) that fixes it.
    assert str(refused.value) == (
        f"the folder of the reject file, {rejects.parent}, does not exist; nothing imported"
    )
    assert refused.value.option == "reject_path"
    assert not (tmp_path / "no").exists()
    assert count(fresh) == 0

    # A file where the folder should be.
    (tmp_path / "plain").write_text("x")
    with pytest.raises(
        ImportRejected, match=r"plain, is not a folder; nothing imported"
    ) as not_dir:
        import_file(fresh, "movies", good_and_bad(tmp_path), reject_path=tmp_path / "plain" / "r")
    assert not_dir.value.option == "reject_path"
    assert count(fresh) == 0


def test_an_existing_reject_file_is_kept_unless_forced(fresh: Engine, tmp_path: Path) -> None:
    # Seen: --reject-file overwrote an existing file without a word.
    rejects = tmp_path / "movies.rejects.csv"
    rejects.write_text("earlier rejects, still needed\n")
    with pytest.raises(ImportRejected) as refused:
        import_file(fresh, "movies", good_and_bad(tmp_path), skip_bad=True)
    assert str(refused.value) == (
        f"the reject file {rejects} exists already and is kept; nothing imported"
    )
    assert refused.value.option == "force"
    assert rejects.read_text() == "earlier rejects, still needed\n"
    assert count(fresh) == 0

    report = import_file(fresh, "movies", good_and_bad(tmp_path), skip_bad=True, force=True)
    assert (report.inserted, report.rejected, report.reject_path) == (2, 1, rejects)
    assert rejects.read_text().splitlines()[1].startswith('Heat,long,"line 3: column runtime')
    assert leftovers(tmp_path) == []


def test_a_special_file_as_reject_file_is_refused_even_with_force(
    fresh: Engine, tmp_path: Path
) -> None:
    # Renaming over it would replace a FIFO (or, as root, a device node) with a plain file.
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for force in (False, True):
        with pytest.raises(ImportRejected, match=f"the reject file {fifo} is not a regular file"):
            import_file(fresh, "movies", good_and_bad(tmp_path), reject_path=fifo, force=force)
    assert fifo.is_fifo()
    assert count(fresh) == 0


def test_rejects_are_in_place_before_the_commit(fresh: Engine, tmp_path: Path) -> None:
    # A deferred constraint trigger fails the COMMIT itself: the rejects must already be there.
    with fresh.begin() as conn:
        conn.execute(
            text(
                """
                create function fail_commit() returns trigger language plpgsql as $$
                begin raise exception 'refused at commit'; end $$;
                create constraint trigger fail_commit after insert on movies
                    deferrable initially deferred for each row execute function fail_commit();
                """
            )
        )
    rejects = tmp_path / "movies.rejects.csv"
    with pytest.raises(ImportFailed) as failed:
        import_file(fresh, "movies", good_and_bad(tmp_path), skip_bad=True)
    assert str(failed.value) == (
        "movies.csv: the database failed while committing (refused at commit); nothing "
        f"imported; the bad rows found are in {rejects}"
    )
    assert rejects.read_text().splitlines()[0] == "title,runtime,_error"
    assert count(fresh) == 0
    assert leftovers(tmp_path) == []


@pytest.mark.heavy
def test_cli_reject_file_refusals_are_one_line(
    fresh_url: URL, cli_env: dict[str, str], tmp_path: Path
) -> None:
    source = good_and_bad(tmp_path)
    done = run_cli(
        fresh_url, cli_env, "movies", str(source), "--skip-bad", "--reject-file", "/proc/r.csv"
    )
    assert_one_error_line(done, "cannot write the reject file /proc/r.csv: ")
    (tmp_path / "movies.rejects.csv").write_text("keep me\n")
    done = run_cli(fresh_url, cli_env, "movies", str(source), "--skip-bad")
    assert_one_error_line(done, f"the reject file {tmp_path / 'movies.rejects.csv'} exists")
    done = run_cli(fresh_url, cli_env, "movies", str(source), "--skip-bad", "--force")
    assert done.returncode == 0, done.stderr
    assert "2 inserted, 0 updated, 1 rejected" in done.stdout
    assert (tmp_path / "movies.rejects.csv").read_text() != "keep me\n"


# --- wrong field counts: reject rows aligned with the header ------------------------------------


def test_rows_with_the_wrong_number_of_fields_are_rejected_aligned(
    fresh: Engine, tmp_path: Path
) -> None:
    # Seen: the reject row kept the extra field, so _error landed under the wrong column.
    path = tmp_path / "ragged.csv"
    path.write_text(
        'title,runtime\nDune,155\n"Heat, the film",170,extra\nAlien\nTenet,2h\nArrival,116\n'
    )
    report = import_file(fresh, "movies", path, skip_bad=True)
    assert (report.inserted, report.rejected) == (2, 3)
    assert titles(fresh) == ["Dune", "Arrival"]
    with report.reject_path.open(newline="") as handle:  # type: ignore[union-attr]
        rejected = list(csv.reader(handle))
    assert rejected == [
        ["title", "runtime", "_error", "_raw"],
        ["", "", "line 3: 3 fields where the header has 2", '"Heat, the film",170,extra'],
        ["", "", "line 4: 1 fields where the header has 2", "Alien"],
        ["Tenet", "2h", "line 5: column runtime, value '2h': not an integer", ""],
    ]
    # Imported unfixed, the ragged rows cannot load shifted values: their cells are empty.
    assert report.reject_path is not None
    with pytest.raises(ImportRejected, match="3 of 3 rows refused") as refused:
        import_file(fresh, "movies", report.reject_path)
    assert "line 2, column title, value '': required (NOT NULL, no default) but empty" in str(
        refused.value
    )
    assert count(fresh) == 2


# --- over-long values: the column's type decides, not the csv module's limit --------------------


def test_a_text_field_over_131072_characters_loads_from_csv_as_from_json(
    fresh: Engine, tmp_path: Path
) -> None:
    # Seen: "field larger than field limit (131072)" for a TEXT column, the whole file refused.
    overview = "long " * 40_000
    csv_path = tmp_path / "long.csv"
    csv_path.write_text(f"title,overview\nDune,{overview}\n")
    jsonl_path = tmp_path / "long.jsonl"
    jsonl_path.write_text(json.dumps({"title": "Heat", "overview": overview}) + "\n")
    assert import_file(fresh, "movies", csv_path).inserted == 1
    assert import_file(fresh, "movies", jsonl_path).inserted == 1
    with fresh.connect() as conn:
        lengths = conn.execute(text("select length(overview) from movies order by id")).scalars()
        assert list(lengths) == [200_000, 200_000]


def test_values_beyond_their_column_cap_are_bad_rows(fresh: Engine, tmp_path: Path) -> None:
    path = tmp_path / "caps.csv"
    huge = "y" * (MAX_TEXT_CHARS + 1)
    path.write_text(f"title,overview\n{'x' * 200_000},short\nDune,{huge}\nHeat,fine\n")
    report = import_file(fresh, "movies", path, skip_bad=True)
    assert (report.inserted, report.rejected) == (1, 2)
    shown = "'" + "x" * 58 + "…"
    assert [str(e) for e in report.errors] == [
        f"line 2, column title, value {shown}: 200000 characters, the column holds at most 200",
        f"line 3, column overview, value {shown.replace('x', 'y')}: {MAX_TEXT_CHARS + 1:,} "
        f"characters, more than the {MAX_TEXT_CHARS:,} an imported text value may have",
    ]
    assert titles(fresh) == ["Heat"]


# --- deeply nested JSON: a reject line or a refusal, never a RecursionError ----------------------


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_deeply_nested_json_lines_are_bad_rows(fresh: Engine, tmp_path: Path) -> None:
    # Seen: RecursionError (a traceback), with and without --skip-bad.
    path = tmp_path / "deep.jsonl"
    lines = [
        '{"title": "Dune"}',
        '{"title": "Deep", "trivia": ' + nested(100_000) + "}",  # past Python's parser
        '{"title": "Deeper than the cap", "x": ' + nested(150) + "}",  # parses, too deep
        '{"title": "Deep text", "trivia": ' + json.dumps(nested(5_000)) + "}",  # JSON in text
        '{"title": "Heat"}',
    ]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ImportRejected, match="3 of 5 rows refused, nothing imported; line 2: ne"):
        import_file(fresh, "movies", path)
    assert count(fresh) == 0
    report = import_file(fresh, "movies", path, skip_bad=True)
    assert (report.inserted, report.rejected) == (2, 3)
    too_deep = "nested more than 100 levels deep (arrays and objects within each other)"
    assert [e.reason for e in report.errors] == [too_deep] * 3
    assert report.reject_path is not None
    written = [json.loads(line) for line in report.reject_path.read_text().splitlines()]
    # The lines that cannot be parsed are kept as their text.
    assert written[0] == {"_raw": lines[1], "_error": f"line 2: {too_deep}"}
    assert written[1] == {"_raw": lines[2], "_error": f"line 3: {too_deep}"}
    assert written[2]["title"] == "Deep text"


def test_a_deeply_nested_json_array_record_refuses_the_file(fresh: Engine, tmp_path: Path) -> None:
    # Where the record ends cannot be found without parsing it, so even --skip-bad refuses.
    path = tmp_path / "deep.json"
    path.write_text('[{"title": "Dune"},\n{"title": "Deep", "trivia": ' + nested(100_000) + "}]")
    for skip_bad in (False, True):
        with pytest.raises(ImportRejected) as refused:
            import_file(fresh, "movies", path, skip_bad=skip_bad)
        assert str(refused.value) == (
            "deep.json: record 2 (line 2) is nested more than 100 levels deep (arrays and "
            "objects within each other); nothing imported"
        )
    assert count(fresh) == 0


# --- NaN: not a value, said as such -----------------------------------------------------------


@pytest.mark.parametrize("format", ["jsonl", "parquet"])
def test_nan_is_not_a_value(fresh: Engine, tmp_path: Path, format: str) -> None:
    # Seen: a NaN title reported as "required but empty" (and a NaN rating silently NULL).
    records: list[dict[str, Any]] = [
        {"title": "Dune", "imdb_rating": 8.0, "runtime": 155.0},
        {"title": "Heat", "imdb_rating": float("nan"), "runtime": 170.0},
        {"title": float("nan"), "imdb_rating": 7.0, "runtime": float("nan")},
    ]
    path = tmp_path / f"nan.{format}"
    if format == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in records))  # writes bare NaN
        assert "NaN" in path.read_text()
    else:
        columns = {key: [r[key] for r in records] for key in records[0]}
        columns["title"] = ["Dune", "Heat", "Alien"]  # a Parquet text column holds no NaN
        pq.write_table(pa.table(columns), path)
    report = import_file(fresh, "movies", path, skip_bad=True)
    reasons = [str(e) for e in report.errors]
    unit = "line" if format == "jsonl" else "record"
    expected = [
        f"{unit} 2, column imdb_rating, value NaN: NaN is not a value for column imdb_rating "
        "(a missing value is null or empty)",
        f"{unit} 3, column runtime, value NaN: NaN is not a value for column runtime "
        "(a missing value is null or empty)",
    ]
    if format == "jsonl":
        expected.insert(
            1,
            "line 3, column title, value NaN: NaN is not a value for column title "
            "(a missing value is null or empty)",
        )
    assert sorted(reasons) == sorted(expected)
    assert titles(fresh) == ["Dune"]


def test_infinity_in_a_text_column_is_a_bad_row(fresh: Engine, tmp_path: Path) -> None:
    # Found while testing NaN: Infinity in a text column raised OverflowError (a traceback).
    path = tmp_path / "inf.json"
    path.write_text('[{"title": "Dune"}, {"title": Infinity}, {"title": -Infinity}]')
    report = import_file(fresh, "movies", path, skip_bad=True)
    assert [str(e) for e in report.errors] == [
        "record 2, column title, value Infinity: not a finite number, nor text",
        "record 3, column title, value -Infinity: not a finite number, nor text",
    ]
    assert titles(fresh) == ["Dune"]


# --- special files --------------------------------------------------------------------------


def test_special_files_are_refused_as_such(fresh: Engine, tmp_path: Path) -> None:
    # Seen: /dev/zero and a FIFO reported as "no such file".
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    (tmp_path / "folder.csv").mkdir()
    cases = {
        Path("/dev/zero"): "/dev/zero is not a regular file (a character device)",
        fifo: f"{fifo} is not a regular file (a FIFO)",
        tmp_path / "folder.csv": f"{tmp_path / 'folder.csv'} is not a regular file (a folder)",
        tmp_path / "missing.csv": f"no such file: {tmp_path / 'missing.csv'}",
    }
    for path, message in cases.items():
        with pytest.raises(ImportRejected) as refused:
            import_file(fresh, "movies", path, format="csv", skip_bad=True)
        assert str(refused.value).startswith(message)
    assert count(fresh) == 0


def test_cli_special_files_are_one_line(
    fresh_url: URL, cli_env: dict[str, str], tmp_path: Path
) -> None:
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    # A timeout, not a hang, if the FIFO were opened: nobody ever writes to it.
    done = run_cli(fresh_url, cli_env, "movies", str(fifo), timeout=60)
    assert_one_error_line(done, f"{fifo} is not a regular file (a FIFO); nothing imported")
    done = run_cli(fresh_url, cli_env, "movies", "/dev/zero", "--format", "jsonl", timeout=60)
    assert_one_error_line(done, "/dev/zero is not a regular file (a character device)")


# --- memory stays bounded -------------------------------------------------------------------

# VmHWM, not ru_maxrss: Linux carries a parent's ru_maxrss over fork and exec, so a child of a
# large pytest process would report the parent's peak.
PEAK_MEMORY = """
import re, sys
from pathlib import Path
from iwm_lab.database import get_engine
from iwm_lab.exceptions import IwmLabError
from iwm_lab.importing import import_file
try:
    import_file(get_engine(sys.argv[1], writable=True), "movies", Path(sys.argv[2]))
except IwmLabError as exc:
    print(exc)
status = Path("/proc/self/status").read_text()
print(int(re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1)) // 1024)
"""


@pytest.mark.parametrize("format", ["csv", "jsonl", "json"])
def test_a_200_mb_line_is_refused_in_bounded_memory(
    fresh_url: URL, tmp_path: Path, format: str
) -> None:
    # Seen: a 200 MB line took 1 GB of memory before anything was said.
    path = tmp_path / f"huge.{format}"
    with path.open("w") as handle:
        handle.write(
            {
                "csv": "title,overview\nDune,",
                "jsonl": '{"title": "Dune", "overview": "',
                "json": '[{"title": "Dune", "overview": "',
            }[format]
        )
        chunk = "z" * (1 << 20)
        # The CSV line is the 200 MB one seen; past the cap the others need only be longer.
        for _ in range(200 if format == "csv" else 40):
            handle.write(chunk)
        handle.write({"csv": "\n", "jsonl": '"}\n', "json": '"}]'}[format])
    url = fresh_url.render_as_string(hide_password=False)
    try:
        done = subprocess.run(
            [sys.executable, "-c", PEAK_MEMORY, url, str(path)],
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        path.unlink()  # pytest keeps the folders of recent runs
    assert done.returncode == 0, done.stderr
    message, peak_mib = done.stdout.splitlines()
    where = "record 1" if format == "json" else "line 2" if format == "csv" else "line 1"
    assert message == (
        f"huge.{format}: {where} is longer than 33,554,432 characters, the most one record may "
        "take; nothing imported"
    )
    print(f"peak {peak_mib} MiB")
    # About 190 MiB, most of it the interpreter and its libraries; 1 GB before.
    assert int(peak_mib) < 300, f"peak {peak_mib} MiB"


def test_a_csv_record_over_many_lines_is_capped_as_a_whole(
    monkeypatch: pytest.MonkeyPatch, fresh: Engine, tmp_path: Path
) -> None:
    # Each line is short, the quoted field spanning them is not.
    monkeypatch.setattr(readers, "MAX_RECORD_CHARS", 1000)
    path = tmp_path / "lines.csv"
    path.write_text('title,overview\nDune,ok\nHeat,"' + "a line\n" * 200 + '"\n')
    with pytest.raises(ImportRejected) as refused:
        import_file(fresh, "movies", path, skip_bad=True)
    assert str(refused.value) == (
        "lines.csv: the record starting on line 3 is longer than 1,000 characters, the most one "
        "record may take; nothing imported"
    )
    assert count(fresh) == 0


# --- the connection drops during the import ----------------------------------------------------


def terminate_when(admin: Engine, pattern: str, stop: threading.Event) -> threading.Thread:
    """From another connection, terminate the backend whose query matches ``pattern``."""

    def watch() -> None:
        with admin.connect() as conn:
            while not stop.is_set():
                killed = conn.execute(
                    text(
                        "select pg_terminate_backend(pid) from pg_stat_activity "
                        "where query ilike :pattern and pid <> pg_backend_pid() "
                        "and datname = current_database()"
                    ),
                    {"pattern": pattern},
                ).all()
                conn.commit()
                if killed:
                    return
                time.sleep(0.005)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_cli_connection_terminated_during_copy_is_one_line(
    fresh: Engine, fresh_url: URL, cli_env: dict[str, str], tmp_path: Path
) -> None:
    # Seen: a traceback when the server ended the import's connection.
    path = tmp_path / "many.csv"
    with path.open("w") as handle:
        handle.write("title,runtime\n")
        handle.writelines(f"Movie {i},{i % 300}\n" for i in range(400_000))
    stop = threading.Event()
    watcher = terminate_when(fresh, "COPY%iwm_import_movies%", stop)
    try:
        done = run_cli(fresh_url, cli_env, "movies", str(path), "--skip-bad")
    finally:
        stop.set()
        watcher.join()
    assert_one_error_line(
        done, "many.csv: the connection to the database was lost during the import ("
    )
    assert done.stderr.rstrip().endswith("; nothing imported")
    assert count(fresh) == 0
    assert not (tmp_path / "many.rejects.csv").exists()
    assert leftovers(tmp_path) == []


def test_connection_terminated_at_commit_says_the_outcome_is_unknown(
    fresh: Engine, tmp_path: Path
) -> None:
    # The backend ends itself while committing: nobody can say whether the COMMIT landed.
    with fresh.begin() as conn:
        conn.execute(
            text(
                """
                create function end_session() returns trigger language plpgsql as $$
                begin perform pg_terminate_backend(pg_backend_pid()); perform pg_sleep(5);
                return null; end $$;
                create constraint trigger end_session after insert on movies
                    deferrable initially deferred for each row execute function end_session();
                """
            )
        )
    with pytest.raises(ImportFailed) as failed:
        import_file(fresh, "movies", good_and_bad(tmp_path), skip_bad=True)
    message = str(failed.value)
    assert message.startswith(
        "movies.csv: the connection to the database was lost while committing ("
    )
    assert message.endswith(
        "): whether its rows were written is unknown; check movies before importing again"
    )
    assert (tmp_path / "movies.rejects.csv").read_text().count("\n") == 2
    assert count(fresh) == 0


def test_a_database_that_cannot_be_reached_is_one_line(fresh_url: URL, tmp_path: Path) -> None:
    engine = get_engine(fresh_url.set(database="no_such_database"), writable=True)
    with pytest.raises(DatabaseUnavailable) as failed:
        import_file(engine, "movies", good_and_bad(tmp_path), skip_bad=True)
    engine.dispose()
    message = str(failed.value)
    assert message.startswith("cannot connect to the database: ")
    assert 'database "no_such_database" does not exist' in message
    assert message.endswith("; nothing imported") and "\n" not in message
    assert not (tmp_path / "movies.rejects.csv").exists()
    assert leftovers(tmp_path) == []
