"""The partitioned twins, filled by a second session while the first builds everything else.

``reviews_partitioned`` and ``pulses_partitioned`` hold the same rows as ``reviews`` and
``pulses``. Filled after the load from those tables (INSERT ... SELECT, then one index build per
partition and index, then statistics per partition), they took 50 to 55 s of the 160 s that
scale large took, on one core while the other idled: a session's statements run one after the
other, and another session cannot read the rows the seeder's transaction has not committed.

So a second session, in a transaction of its own, fills them from the same chunks while the
seeder's session builds the base tables' indexes and the rollups: it COPYs them into the twins,
then builds the twins' indexes and analyses them. The seeder's thread writes the chunks to a
temporary file per twin as they stream past (a chunk's memory is reused once the next one is
taken), and the second session COPYs them once the seeder's COPY is over: during it both cores
are busy already (the server's COPY and the generator), and a third COPY there slowed the whole
load (about 1.7 GB of COPY text at scale large). The seeder commits its own transaction first
and this one right after; a failure in either before that rolls both back. (Should this commit
itself fail after the seeder's, the twins would lag behind their tables until the next
``seed --reset``.)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any, BinaryIO

import psycopg
from psycopg import sql

from iwm_lab.demodata.generate import Chunk
from iwm_lab.demodata.load import TWINS, Labelled, run_all

# Each twin by the table whose chunks it receives.
TWIN_OF = {base: twin for twin, base in TWINS.items()}
# How much of a twin's file each write of its COPY sends.
READ_BYTES = 1 << 20


@dataclass
class TwinFill:
    """What filling the twins did: rows and COPY seconds per twin, seconds per index build
    and ANALYZE by label, and ``busy`` (all of it, seconds)."""

    rows: dict[str, int] = field(default_factory=dict)
    steps: dict[str, float] = field(default_factory=dict)
    busy: float = 0.0


@dataclass
class _Kept:
    file: BinaryIO
    path: Path
    columns: tuple[str, ...]
    rows: int = 0


class _Worker:
    def __init__(self, conn: psycopg.Connection[Any], restore: Labelled, directory: Path) -> None:
        self._conn = conn
        self._restore = restore
        self._directory = directory
        self._kept: dict[str, _Kept] = {}
        self._error: BaseException | None = None
        self._stopping = False
        self.result = TwinFill()
        # Started by close(), after the seeder's COPY: its generator process is forked before
        # that, and a fork copies no other thread, whatever lock it may hold.
        self._thread = threading.Thread(target=self._run, name="iwm-seed-twins", daemon=True)

    def put(self, chunk: Chunk) -> None:
        """Keep a chunk of ``reviews`` or ``pulses`` in its twin's file."""
        twin = TWIN_OF[chunk.table]
        kept = self._kept.get(twin)
        if kept is None:
            path = self._directory / f"{twin}.copy"
            kept = self._kept[twin] = _Kept(path.open("wb"), path, chunk.columns)
        elif chunk.columns != kept.columns:
            raise RuntimeError(f"chunk of {chunk.table} has different columns")
        kept.file.write(chunk.data)
        kept.rows += chunk.rows

    def close(self) -> None:
        """No more chunks: the twins' COPY, indexes and statistics follow, in a thread."""
        for kept in self._kept.values():
            kept.file.close()
        self._thread.start()

    def finish(self) -> TwinFill:
        """Wait for the twins to be filled, indexed and analysed (after :meth:`close`)."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self.result

    def abort(self) -> None:
        """Stop at once: the statement running is cancelled."""
        self._stopping = True
        for kept in self._kept.values():
            kept.file.close()
        if self._thread.ident is not None:
            self._conn.cancel_safe()
            self._thread.join()

    def _run(self) -> None:
        started = time.perf_counter()
        try:
            for twin, kept in self._kept.items():
                if not self._stopping:
                    self._copy(twin, kept)
            if not self._stopping:
                self.result.steps.update(run_all(self._conn, self._restore, lambda _l: None))
            for twin in TWINS:
                if self._stopping:
                    break
                began = time.perf_counter()
                self._conn.execute(sql.SQL("analyze {}").format(sql.Identifier(twin)))
                self.result.steps[f"{twin} analyze"] = time.perf_counter() - began
        except BaseException as error:  # raised in the seeder's thread by finish()
            self._error = error
        self.result.busy = time.perf_counter() - started

    def _copy(self, twin: str, kept: _Kept) -> None:
        began = time.perf_counter()
        statement = sql.SQL("copy {} ({}) from stdin").format(
            sql.Identifier(twin), sql.SQL(", ").join(sql.Identifier(c) for c in kept.columns)
        )
        with kept.path.open("rb") as file, self._conn.cursor().copy(statement) as copy:
            while block := file.read(READ_BYTES):
                copy.write(block)
        self.result.rows[twin] = kept.rows
        self.result.steps[f"{twin} copy"] = time.perf_counter() - began


@contextmanager
def filling(conn: psycopg.Connection[Any], restore: Labelled) -> Iterator[_Worker]:
    """Fill the twins on ``conn`` (its own transaction, the twins locked, emptied and, for a
    large load, without their keys and indexes): pass it the chunks of ``reviews`` and
    ``pulses`` (``put``), say there are no more (``close``: a thread then COPYs them, runs
    ``restore``, the twins' keys and indexes, and analyses the twins), and wait for it
    (``finish``). An exception in the block stops it."""
    with TemporaryDirectory(prefix="iwm-seed-twins-") as directory:
        worker = _Worker(conn, restore, Path(directory))
        try:
            yield worker
        except BaseException:
            worker.abort()
            raise
