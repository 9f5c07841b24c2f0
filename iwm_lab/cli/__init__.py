"""The ``iwm-lab`` command: parses, calls the library, formats. Errors become one line.

The root group and what every command shares live in ``_base``; each command group in a
module of its own (``db``, ``report``, ``data``), which registers its commands on ``cli``
when imported here.
"""

from __future__ import annotations

from iwm_lab.cli import data, db, report
from iwm_lab.cli._base import cli

__all__ = ["cli", "data", "db", "main", "report"]


def main() -> None:
    cli(prog_name="iwm-lab")
