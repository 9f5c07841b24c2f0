"""``%sql`` and ``%%sql`` (``%load_ext iwm_lab``): in an IPython shell of this process, then in
a notebook run by papermill here and by the nbval step of `.ci/test` on the tiny dataset.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from IPython.core.interactiveshell import InteractiveShell
from sqlalchemy import Connection, text
from sqlalchemy.engine import URL

from iwm_lab import get_settings
from iwm_lab.exceptions import QueryError
from iwm_lab.reports.records import read_records

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "tests" / "notebooks" / "sql_cells.ipynb"
# A value that, written into the statement instead of bound, would match every movie.
TITLE = "nothing' or 'a'='a"


@pytest.fixture
def shell(tiny_url: URL, monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    monkeypatch.setenv("IWM_DATABASE_URL", tiny_url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "iwm_lab")
    yield ip
    ip.run_line_magic("unload_ext", "iwm_lab")
    InteractiveShell.clear_instance()
    get_settings.cache_clear()


def run(ip: InteractiveShell, source: str) -> Any:
    """The value of a cell; its error raised."""
    result = ip.run_cell(source, store_history=False)
    result.raise_error()
    return result.result


def _count(tiny: Connection, query: str, **params: Any) -> int:
    return int(tiny.execute(text(query), params).scalar_one())


def test_a_notebook_variable_is_bound_and_nothing_is_expanded(
    shell: InteractiveShell, tiny: Connection
) -> None:
    shell.user_ns["title"] = TITLE
    frame = run(shell, "%sql select :title as title, '{title} $title {{title}}' as text")
    assert frame.iloc[0].tolist() == [TITLE, "{title} $title {{title}}"]
    matches = run(shell, "%sql select count(*) as n from movies where title = :title")
    assert matches["n"].tolist() == [
        _count(tiny, "select count(*) from movies where title = :t", t=TITLE)
    ]
    assert _count(tiny, "select count(*) from movies") > 0


@pytest.mark.parametrize(
    ("cell", "name"),
    [
        ("df = %sql select count(*) as n from movies", "df"),
        ("%sql df << select count(*) as n from movies", "df"),
        ("%%sql df <<\nselect count(*) as n\nfrom movies", "df"),
        ("%%sql  counts<<  \nselect count(*) as n from movies", "counts"),
    ],
    ids=["assigned", "line-arrow", "cell-arrow", "cell-arrow-spaces"],
)
def test_the_result_can_be_stored_in_a_variable(
    shell: InteractiveShell, tiny: Connection, cell: str, name: str
) -> None:
    run(shell, cell)
    stored = shell.user_ns[name]
    assert stored["n"].tolist() == [_count(tiny, "select count(*) from movies")]
    assert str(stored["n"].dtype) == "Int64"


def test_a_cell_without_a_name_shows_its_frame(shell: InteractiveShell, tiny: Connection) -> None:
    shell.user_ns["genre"] = "drama"
    frame = run(
        shell,
        "%%sql\nselect count(*) as n\nfrom movie_genres mg\n"
        "join genres g on g.id = mg.genre_id\nwhere g.slug = :genre",
    )
    expected = _count(
        tiny,
        "select count(*) from movie_genres mg join genres g on g.id = mg.genre_id "
        "where g.slug = :g",
        g="drama",
    )
    assert frame["n"].tolist() == [expected]


@pytest.mark.parametrize(
    ("cell", "error", "message"),
    [
        ("%sql select * from no_such_table", QueryError, 'relation "no_such_table" does not'),
        ("%sql select :undefined_here", QueryError, "no notebook variable for :undefined_here"),
        ("%sql insert into genres (slug, name) values ('x', 'X')", QueryError, "read-only"),
        ("%%sql select 1\nselect 2", Exception, "%%sql takes nothing, or 'name <<'"),
        ("%sql   ", QueryError, "the query is empty"),
    ],
    ids=["no-table", "undefined-variable", "write", "text-on-the-cell-line", "empty"],
)
def test_a_failed_cell_leaves_the_next_one_working(
    shell: InteractiveShell, tiny: Connection, cell: str, error: type, message: str
) -> None:
    with pytest.raises(error, match=re.escape(message)):
        run(shell, cell)
    after = run(shell, "%sql select count(*) as n from genres")
    assert after["n"].tolist() == [_count(tiny, "select count(*) from genres")]


def test_unloading_removes_only_these_magics(shell: InteractiveShell) -> None:
    shell.run_line_magic("unload_ext", "iwm_lab")
    assert "sql" not in shell.magics_manager.magics["line"]
    assert "sql" not in shell.magics_manager.magics["cell"]
    assert "time" in shell.magics_manager.magics["line"]
    shell.run_line_magic("load_ext", "iwm_lab")  # the fixture unloads it again


# The notebook ------------------------------------------------------------------------------


def _cell(nb: nbformat.NotebookNode, start: str) -> nbformat.NotebookNode:
    (found,) = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith(start)]
    return found


@pytest.mark.kernel
def test_papermill_runs_the_sql_cells(
    tiny_url: URL, tiny: Connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from papermill import execute_notebook

    genre = tiny.execute(
        text(
            "select g.slug from genres g join movie_genres mg on mg.genre_id = g.id "
            "group by g.slug order by count(*) desc, g.slug limit 1"
        )
    ).scalar_one()
    # The kernel inherits this process's environment.
    monkeypatch.setenv("IWM_DATABASE_URL", tiny_url.render_as_string(hide_password=False))
    output = tmp_path / "sql_cells.ipynb"
    execute_notebook(
        str(NOTEBOOK),
        str(output),
        parameters={"genre": genre, "title": TITLE},
        kernel_name="python3",
        progress_bar=False,
        cwd=str(tmp_path),
    )
    nb = nbformat.read(output, as_version=4)
    in_genre = "select count(*) from movie_genres mg join genres g on g.id = mg.genre_id "
    records = read_records(nb)
    assert records == {
        "genre": genre,
        "genre_movies": _count(tiny, f"{in_genre} where g.slug = :g", g=genre),
        "genres": _count(tiny, "select count(*) from genres"),
        "title_matches": _count(tiny, "select count(*) from movies where title = :t", t=TITLE),
        "movies": _count(tiny, "select count(*) from movies"),
        "dtypes": {"genre": "str", "movies": "Int64"},
        "missing_table": 'relation "no_such_table" does not exist (at line 1, column 15)',
        "write_refused": "cannot execute INSERT in a read-only transaction",
    }
    assert records["movies"] > records["title_matches"], "the title, run as SQL, matches all"
    # The cell without a name shows its frame; colons in its comment and literal stay text.
    (shown,) = _cell(nb, "%%sql\n-- :genre").outputs
    assert shown.output_type == "execute_result"
    assert shown.data["text/plain"].split("\n")[1].split() == [
        "0",
        genre,
        str(records["genre_movies"]),
        ":genre",
    ]
    # The failures were caught in their cells: no error and nothing on stderr anywhere.
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error" or o.get("name") == "stderr"]
