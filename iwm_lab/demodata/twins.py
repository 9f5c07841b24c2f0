"""The partitioned twins, filled by a second session while the first builds everything else.

``reviews_partitioned`` and ``pulses_partitioned`` hold the same rows as ``reviews`` and
``pulses``. Filled after the load from those tables (INSERT ... SELECT, then one index build per
partition and index, then statistics per partition), they took 50 to 55 s of the 160 s that
scale large took, on one core while the other idled: a session's statements run one after the
other, and another session cannot read the rows the seeder's transaction has not committed.

So a second session, in a transaction of its own, fills them from the same chunks while the
seeder's session builds the base tables' indexes and the rollups: it COPYs them into the twins,
then builds the twins' indexes and analyses them. The chunks are kept in a temporary file per
twin as they stream past (a chunk's memory is reused once the next one is taken), and COPYd
once the seeder's COPY is over: during it both cores are busy already (the server's COPY and
the generator), and a third COPY there slowed the whole load (about 1.7 GB of COPY text at
scale large). The seeder commits its own transaction first and this one
right after; a failure in either before that rolls both back. (Should this commit itself fail
after the seeder's, the twins would lag behind their tables until the next ``seed --reset``.)
"""

from __future__ import annotations

import queue
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from itertools import chain, groupby
from typing import Any

import psycopg
from psycopg import sql

from iwm_lab.demodata.generate import Chunk
from iwm_lab.demodata.load import TWINS, Labelled, run_all

# Each twin by the table whose chunks it receives.
TWIN_OF = {base: twin for twin, base in TWINS.items()}
# Chunks waiting to be written to the twins' files: enough to ride out a slow write, few
# enough that the copies cost little memory (a chunk is a few MB of COPY text).
QUEUE_CHUNKS = 8
# How much of a twin's file each write of its COPY sends.
READ_BYTES = 1 << 20


@dataclass
class TwinFill:
    """What filling the twins did: rows and COPY seconds per twin, seconds per index build
    and ANALYZE by label, and ``busy`` (all of it, seconds)."""

    rows: dict[str, int] = field(default_factory=dict)
    steps: dict[str, float] = field(default_factory=dict)
    busy: float = 0.0


class _Worker:
    def __init__(self, conn: psycopg.Connection[Any], restore: Labelled) -> None:
        self._conn = conn
        self._restore = restore
        self._chunks: queue.Queue[Chunk | None] = queue.Queue(maxsize=QUEUE_CHUNKS)
        self._error: BaseException | None = None
        self._stopping = False
        self.result = TwinFill()
        # Started by the first chunk: the loader forks its generator process before that, and
        # a fork copies no other thread, whatever lock it may hold.
        self._thread = threading.Thread(target=self._run, name="iwm-seed-twins", daemon=True)

    def put(self, chunk: Chunk) -> None:
        """Queue a copy of a chunk of ``reviews`` or ``pulses`` for its twin."""
        twin = TWIN_OF[chunk.table]
        self._offer(Chunk(twin, chunk.columns, bytes(chunk.data), chunk.rows, 0.0))

    def close(self) -> None:
        """No more chunks: the twins' COPY, indexes and statistics follow."""
        self._offer(None)

    def _offer(self, item: Chunk | None) -> None:
        if self._thread.ident is None:
            self._thread.start()
        # Never waits on a worker that has failed, and so stopped taking chunks.
        while True:
            self._raise_failure()
            with suppress(queue.Full):
                self._chunks.put(item, timeout=0.1)
                return

    def finish(self) -> TwinFill:
        """Wait for the twins to be indexed and analysed (after :meth:`close`)."""
        self._thread.join()
        self._raise_failure()
        return self.result

    def abort(self) -> None:
        """Stop at once: the statement running is cancelled, the queue dropped."""
        self._stopping = True
        self._conn.cancel_safe()
        with suppress(queue.Empty):
            while True:
                self._chunks.get_nowait()
        with suppress(queue.Full):
            self._chunks.put_nowait(None)
        if self._thread.ident is not None:
            self._thread.join()

    def _raise_failure(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        started = time.perf_counter()
        try:
            with tempfile.TemporaryDirectory(prefix="iwm-seed-twins-") as directory:
                kept = self._keep(directory)
                for twin, (path, columns, rows) in kept.items():
                    if not self._stopping:
                        self._copy(twin, path, columns, rows)
            if not self._stopping:
                self.result.steps.update(run_all(self._conn, self._restore, lambda _l: None))
            for twin in TWINS:
                if self._stopping:
                    break
                began = time.perf_counter()
                self._conn.execute(sql.SQL("analyze {}").format(sql.Identifier(twin)))
                self.result.steps[f"{twin} analyze"] = time.perf_counter() - began
        except BaseException as error:  # raised in the seeder's thread by its next call
            self._error = error
        self.result.busy = time.perf_counter() - started

    def _keep(self, directory: str) -> dict[str, tuple[str, tuple[str, ...], int]]:
        """Write each twin's chunks to a file until the seeder says there are no more: the
        file, the chunks' columns and their rows, by twin."""
        kept: dict[str, tuple[str, tuple[str, ...], int]] = {}
        for twin, group in groupby(iter(self._chunks.get, None), key=lambda c: c.table):
            first = next(group)
            path = f"{directory}/{twin}.copy"
            rows = kept[twin][2] if twin in kept else 0
            with open(path, "ab") as file:
                for chunk in chain([first], group):
                    if chunk.columns != first.columns:
                        raise RuntimeError(f"chunk of {chunk.table} has different columns")
                    file.write(chunk.data)
                    rows += chunk.rows
            kept[twin] = (path, first.columns, rows)
        return kept

    def _copy(self, twin: str, path: str, columns: tuple[str, ...], rows: int) -> None:
        began = time.perf_counter()
        statement = sql.SQL("copy {} ({}) from stdin").format(
            sql.Identifier(twin), sql.SQL(", ").join(sql.Identifier(c) for c in columns)
        )
        with open(path, "rb") as file, self._conn.cursor().copy(statement) as copy:
            while block := file.read(READ_BYTES):
                copy.write(block)
        self.result.rows[twin] = rows
        self.result.steps[f"{twin} copy"] = time.perf_counter() - began


@contextmanager
def filling(conn: psycopg.Connection[Any], restore: Labelled) -> Iterator[_Worker]:
    """Fill the twins on ``conn`` (its own transaction, the twins locked, emptied and, for a
    large load, without their keys and indexes) in a thread: pass it the chunks of ``reviews``
    and ``pulses`` (``put``), say there are no more (``close``: it then runs ``restore``, the
    twins' keys and indexes, and analyses the twins), and wait for it (``finish``). An
    exception in the block stops it."""
    worker = _Worker(conn, restore)
    try:
        yield worker
    except BaseException:
        worker.abort()
        raise
