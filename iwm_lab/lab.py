"""``iwm-lab lab``: JupyterLab on the project's notebooks, with the database ready.

The database is checked first: it must exist and be at the head revision, or the command
stops with one line saying what to run (a stopped embedded server is started; none is
created), so a notebook's ``iwm_lab.connect()`` works from the first cell. JupyterLab runs on
this interpreter; notebooks name the ``python3`` kernel, which resolves to the virtual
environment's own kernel spec (jupyter_core puts the environment's folder first), and
jupyter_client starts it with this same interpreter, so the kernel imports this ``iwm_lab``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from iwm_lab.database import database_url, describe_url, get_engine
from iwm_lab.exceptions import ConfigurationError
from iwm_lab.migrate import require_head

KERNEL = "python3"


def lab_argv(
    notebook_dir: Path,
    *,
    port: int | None = None,
    open_browser: bool = True,
    extra: Sequence[str] = (),
) -> list[str]:
    """The command line that starts JupyterLab on ``notebook_dir`` with this interpreter."""
    argv = [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--ServerApp.root_dir={notebook_dir}",
        f"--MultiKernelManager.default_kernel_name={KERNEL}",
    ]
    if port is not None:
        argv.append(f"--ServerApp.port={port}")
    if not open_browser:
        argv.append("--no-browser")
    if os.geteuid() == 0:  # Jupyter refuses root unless told; containers often are root
        argv.append("--allow-root")
    return [*argv, *extra]


def prepare_database() -> list[str]:
    """Reach the database, which must exist at the head revision; return notes for the user.

    Raises :class:`~iwm_lab.exceptions.DatabaseMissing` (no cluster in the data folder) or
    :class:`~iwm_lab.exceptions.SchemaNotReady` (not migrated), each saying what to run.
    """
    url = database_url()
    engine = get_engine(url)
    try:
        revision = require_head(engine)
    finally:
        engine.dispose()
    return [f"database: {describe_url(url)} at revision {revision}"]


def check_notebook_dir(notebook_dir: Path) -> Path:
    if not notebook_dir.is_dir():
        raise ConfigurationError(f"notebook folder not found: {notebook_dir}")
    return notebook_dir.resolve()
