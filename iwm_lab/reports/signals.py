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


@contextlib.contextmanager
def interrupts_once() -> Iterator[None]:
    """The first SIGINT or SIGTERM interrupts the run; later ones wait for its cleanup.

    SIGTERM becomes :class:`Terminated` (a ``KeyboardInterrupt``), so papermill shuts the
    kernel down on the way out as it does for Ctrl-C. A second signal (run-due passes
    SIGTERM on to workers that the terminal's Ctrl-C reached already) must not cut the
    cleanup short.
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

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
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
