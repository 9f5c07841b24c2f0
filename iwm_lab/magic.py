"""``%sql`` and ``%%sql`` in notebooks, on the same read-only session as ``iwm_lab.sql()``.

In a notebook::

    %load_ext iwm_lab

    %sql select count(*) as movies from movies where year >= :year

    %%sql
    select g.name, count(*) as movies
    from genres g join movie_genres mg on mg.genre_id = g.id
    group by g.name order by movies desc

    df = %sql select title from movies where title ilike :pattern

    %%sql top <<
    select title, siddu_score from movies order by siddu_score desc nulls last limit :n

``:name`` takes the notebook variable ``name``, bound, never written into the statement; a name
no variable has is an error. The result is a DataFrame (the dtypes of :mod:`iwm_lab.explore`),
shown, or with ``name <<`` stored in ``name`` and not shown. A failed statement is one
``QueryError`` and leaves nothing behind: the next cell runs as if it never happened.

Why not JupySQL's ``%sql``: it renders every cell as a Jinja template of the notebook's
variables before running it, so ``{{ name }}`` writes a value into the SQL text (and a
``{#`` in a string literal, as in a hashtag, silently swallows text); its errors show the bound
values; and its frames are built row by row, with other dtypes than ``iwm_lab.sql()``. Neither
IPython's ``$name``/``{name}`` expansion: these magics take their text as written.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.core.magic import Magics, line_cell_magic, magics_class, no_var_expand

from iwm_lab.exceptions import QueryError
from iwm_lab.explore import parameter_names, sql

# "df << select ..." on a %sql line; "df <<" alone on a %%sql line.
_ASSIGNMENT = re.compile(r"\s*([^\W\d]\w*)\s*<<(.*)", re.DOTALL)


def split_assignment(line: str, cell: str | None) -> tuple[str | None, str]:
    """The variable to store the result in (``name <<``), if any, and the query."""
    found = _ASSIGNMENT.fullmatch(line)
    target, rest = (found.group(1), found.group(2)) if found else (None, line)
    if cell is None:
        return target, rest
    if rest.strip():
        raise UsageError(
            "%%sql takes nothing, or 'name <<' to store the result, on its first line; "
            "write the query in the cell"
        )
    return target, cell


@magics_class
class SqlMagics(Magics):
    """The ``sql`` line and cell magic."""

    @no_var_expand
    @line_cell_magic
    def sql(self, line: str, cell: str | None = None) -> pd.DataFrame | None:
        """Run one read-only statement; ``:name`` binds the notebook variable ``name``.

        ``%sql QUERY``, ``%sql df << QUERY``, ``%%sql`` or ``%%sql df <<`` with the query
        in the cell.
        """
        __tracebackhide__ = True  # the cell's line, not this module's, in the traceback
        target, query = split_assignment(line, cell)
        namespace: dict[str, Any] = self.shell.user_ns if self.shell is not None else {}
        names = parameter_names(query)
        undefined = [f":{name}" for name in names if name not in namespace]
        if undefined:
            raise QueryError(f"no notebook variable for {', '.join(undefined)}")
        frame = sql(query, **{name: namespace[name] for name in names})
        if target is None:
            return frame
        namespace[target] = frame
        return None


def load_ipython_extension(ip: InteractiveShell) -> None:
    """``%load_ext iwm_lab``: register ``%sql`` and ``%%sql``."""
    ip.register_magics(SqlMagics)


def unload_ipython_extension(ip: InteractiveShell) -> None:
    """``%unload_ext iwm_lab``: remove ``%sql`` and ``%%sql`` if they are still these."""
    for kind in ("line", "cell"):
        registered = ip.magics_manager.magics[kind]
        magic = registered.get("sql")
        if isinstance(getattr(magic, "__self__", None), SqlMagics):
            del registered["sql"]
