"""The notebooks' own check: ``pytest --nbval-lax notebooks/`` re-runs every notebook and
compares the cells marked ``# NBVAL_CHECK_OUTPUT`` with their stored outputs.

Those outputs come from the tiny demo dataset (seed 42) dated up to
:data:`~iwm_lab.demodata.NOTEBOOK_AS_OF`, with ``IWM_AS_OF`` pinning "now" to that date. So
for the length of the run a throwaway embedded PostgreSQL 16 holds exactly that, and the
environment the kernels inherit points at it. nbval's cells are not pytest functions, so a
fixture would not run for them: a hook around the run loop does it instead.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from iwm_lab import migrate
from iwm_lab.database import get_engine
from iwm_lab.demodata import NOTEBOOK_AS_OF, seed_database
from iwm_lab.server import EmbeddedServer
from iwm_lab.settings import Settings

TINY_SEED = 42


@contextmanager
def tiny_environment() -> Iterator[None]:
    """A server holding the tiny dataset, and ``IWM_*`` variables naming only it."""
    # Opened to traversal so the unprivileged server user can reach its data dir when root.
    root = Path(tempfile.mkdtemp(prefix="iwm-nbval-"))
    root.chmod(0o755)
    settings = Settings(data_dir=root / "data")
    server = EmbeddedServer(settings)
    saved = {name: value for name, value in os.environ.items() if name.startswith("IWM_")}
    try:
        server.start()
        engine = get_engine(server.url(), writable=True)
        migrate.upgrade(engine)
        seed_database(engine, scale="tiny", seed=TINY_SEED, progress=False, as_of=NOTEBOOK_AS_OF)
        engine.dispose()
        for name in saved:
            del os.environ[name]
        os.environ["IWM_DATA_DIR"] = str(settings.data_dir)
        os.environ["IWM_DATABASE_URL"] = server.url().render_as_string(hide_password=False)
        os.environ["IWM_AS_OF"] = NOTEBOOK_AS_OF.isoformat()
        yield
    finally:
        for name in [name for name in os.environ if name.startswith("IWM_")]:
            del os.environ[name]
        os.environ.update(saved)
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session) -> Generator[None, object, object]:
    # Only when notebooks run: `pytest tests/ notebooks/` without --nbval-lax collects none.
    notebooks = any(item.path.suffix == ".ipynb" for item in session.items)
    if session.config.option.collectonly or not notebooks:
        return (yield)
    with tiny_environment():
        return (yield)
