"""SIGINT and SIGTERM during a report run: stop the kernel cleanly, publish whole or not at all.

systemd, Kubernetes and ``kill`` send SIGTERM; a terminal sends SIGINT (Ctrl-C) to the whole
process group, kernel included. Both end a run the same way: papermill shuts the kernel down,
the run is recorded as interrupted, and ``latest`` stays where it was.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C."""


class TimedOut(KeyboardInterrupt):
    """The run's ``timeout_s`` passed: stopped like Ctrl-C, so papermill shuts the kernel down."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"timed out after {seconds:g} s")
        self.seconds = seconds


@contextlib.contextmanager
def deadline(seconds: float | None) -> Iterator[None]:
    """Raise :class:`TimedOut` in the main thread once ``seconds`` have passed (SIGALRM).

    A notebook can block in C code or in a query for as long as it likes: the kernel is
    another process, so only this side can give up on it. Off the main thread, or without
    ``seconds``, nothing is armed.
    """
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return
    fired = False

    def handler(_signum: int, _frame: object) -> None:
        nonlocal fired
        if not fired:
            fired = True
            raise TimedOut(seconds)

    previous = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def interrupts_once(*, sigterm: bool = True) -> Iterator[None]:
    """The first SIGINT or SIGTERM interrupts the run; later ones wait for its cleanup.

    SIGTERM becomes :class:`Terminated` (a ``KeyboardInterrupt``), so papermill shuts the
    kernel down on the way out as it does for Ctrl-C. A second signal (run-due passes
    SIGTERM on to workers that the terminal's Ctrl-C reached already) must not cut the
    cleanup short. With ``sigterm=False`` SIGTERM keeps its handler (``report serve``
    finishes the current runs on SIGTERM).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired = False

    def handler(signum: int, _frame: object) -> None:
        nonlocal fired
        if not fired:
            fired = True
            raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()

    wanted = (signal.SIGINT, signal.SIGTERM) if sigterm else (signal.SIGINT,)
    previous = {s: signal.signal(s, handler) for s in wanted}
    try:
        yield
    finally:
        for signum, saved in previous.items():
            signal.signal(signum, saved)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM back while a run is published, so it is published whole or not."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, held)
