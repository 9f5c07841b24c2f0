"""``iwm-lab report serve``: ``run-due`` every minute in the foreground, for a service manager.

Each round reloads the schedule (an edit takes effect at the next minute, and a broken edit is
reported and retried, not fatal), then runs what is due. SIGTERM (``systemctl stop``,
``docker stop``) lets the current runs finish and publish, then ends the loop; SIGINT (Ctrl-C)
interrupts them as it does for ``run-due``. Under systemd use ``KillMode=mixed`` so that only
this process gets SIGTERM, and a ``TimeoutStopSec`` longer than the longest report.

With ``executor="dask://HOST:PORT"`` each round connects to the Dask scheduler afresh, so a
scheduler restarted between rounds is simply found again; one that cannot be reached is
reported for that round, like a broken schedule.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from iwm_lab.exceptions import IwmLabError
from iwm_lab.reports.due import DueOutcome, run_due
from iwm_lab.reports.executors import parse_executor
from iwm_lab.reports.kernels import KernelPool
from iwm_lab.reports.schedule import Schedule

Progress = Callable[[str], None]


@dataclass
class ServeSummary:
    """What a ``serve`` loop did before it stopped."""

    rounds: int = 0
    outcomes: list[DueOutcome] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def serve(
    load: Callable[[], Schedule],
    *,
    every_s: float = 60.0,
    jobs: int | None = None,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
    rounds: int | None = None,
    executor: str = "local",
    pool: int = 1,
) -> ServeSummary:
    """Call ``run_due`` on ``load()``'s schedule every ``every_s`` seconds until stopped.

    Rounds start on multiples of ``every_s`` (whole minutes by default), so a cron slot is
    seen within a minute. ``stop`` (set by SIGTERM when called from the main thread) ends the
    loop after the current round; ``rounds`` bounds it (for tests). A schedule error or a
    failed round is reported through ``progress`` and the loop goes on. ``jobs`` and
    ``executor`` are ``run_due``'s; an invalid ``executor`` raises
    :class:`~iwm_lab.exceptions.ReportError` before the first round.

    With the local executor, ``pool`` kernels per kind of run are kept warm between rounds
    (:mod:`.kernels`; 0: none): after its first round a report starts without waiting for a
    kernel. They are stopped when the loop ends.
    """
    if every_s <= 0:
        raise ValueError("every_s must be > 0")
    if pool < 0:
        raise ValueError("pool must be at least 0")
    parse_executor(executor)
    say = progress or (lambda _message: None)
    stop = stop or threading.Event()
    summary = ServeSummary()
    warm = KernelPool(pool, keep=True) if pool and executor == "local" else None
    with _stop_on_sigterm(stop, say), _closing(warm):
        while not stop.is_set() and (rounds is None or summary.rounds < rounds):
            summary.rounds += 1
            try:
                outcomes = run_due(
                    load(),
                    jobs=jobs,
                    progress=say,
                    handle_sigterm=False,
                    executor=executor,
                    pool=warm or 0,
                )
            except IwmLabError as exc:
                summary.errors.append(str(exc))
                say(f"error: {exc}")
            else:
                summary.outcomes += outcomes
                for outcome in outcomes:
                    detail = f": {outcome.message}" if outcome.message else ""
                    say(f"{outcome.job.label}: {outcome.status}{detail}")
            if rounds is not None and summary.rounds >= rounds:
                break
            stop.wait(_until_next_round(every_s))
    return summary


@contextlib.contextmanager
def _closing(pool: KernelPool | None) -> Iterator[None]:
    try:
        yield
    finally:
        if pool is not None:
            pool.close()


def _until_next_round(every_s: float) -> float:
    now = datetime.now(UTC).timestamp()
    return every_s - (now % every_s) + 0.05


@contextlib.contextmanager
def _stop_on_sigterm(stop: threading.Event, say: Progress) -> Iterator[None]:
    """SIGTERM sets ``stop`` instead of interrupting (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(_signum: int, _frame: object) -> None:
        if not stop.is_set():
            say("SIGTERM: stopping after the current runs")
        stop.set()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
