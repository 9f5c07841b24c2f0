"""One due job in its own process, started by ``run-due``: ``python -m iwm_lab.reports.worker``.

Prints one JSON line on stdout (``status``, ``message``, ``html``) for the parent; progress goes
to stderr. Exit status: 0 success or nothing to do, 1 failed, 2 could not start, 130/143
interrupted by SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path

from iwm_lab.exceptions import IwmLabError, ReportBusy
from iwm_lab.reports.prepare import prepare_job
from iwm_lab.reports.runner import run_job
from iwm_lab.reports.schedule import load_schedule
from iwm_lab.reports.signals import Terminated


def _emit(status: str, message: str = "", html: str | None = None) -> None:
    print(json.dumps({"status": status, "message": message, "html": html}), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m iwm_lab.reports.worker")
    parser.add_argument("--schedule", type=Path, required=True)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--report", required=True)
    parser.add_argument("--part", default="{}", help="fan-out values, as a JSON object")
    parser.add_argument("--slot", required=True, help="the scheduled time run, ISO 8601")
    parser.add_argument("--no-progress-bar", action="store_true")
    parser.add_argument("--lock-fd", type=int, help="the job's lock, taken by the parent")
    args = parser.parse_args(argv)

    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    try:
        schedule = load_schedule(args.schedule, args.output)
        job = schedule.report(args.report).job(json.loads(args.part))
        result = run_job(
            schedule,
            prepare_job(job),
            trigger="schedule",
            slot=datetime.fromisoformat(args.slot),
            progress=say,
            progress_bar=not args.no_progress_bar,
            lock_fd=args.lock_fd,
        )
    except ReportBusy as exc:
        _emit("busy", str(exc))
        return 0
    except IwmLabError as exc:
        _emit("error", str(exc))
        return 2
    except OSError as exc:  # e.g. an output folder it cannot write to
        _emit("error", f"{exc.strerror or type(exc).__name__}: {exc.filename or ''}".rstrip(": "))
        return 2
    except Terminated:
        _emit("interrupted", "SIGTERM")
        return 143
    except KeyboardInterrupt:
        _emit("interrupted", "SIGINT")
        return 130
    if result is None:
        _emit("skipped", "already run for this slot")
        return 0
    html = result.file(".html")
    message = result.record.error or ""
    if result.record.unreachable:
        message += "; the slot stays due: the next run-due tries again"
    _emit(result.record.status, message, str(html) if html else None)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
