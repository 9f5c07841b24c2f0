"""Importing real extracts (CSV, JSON lines, JSON arrays, Parquet) into the iwm tables.

:func:`import_file` is the whole API; ``iwm-lab import TABLE FILE`` calls it. The package is
split by concern: ``readers`` (formats, encodings, record numbering), ``conversion`` (what a
raw value becomes in a column of each type, and the decisions about dates, empty values and
numbers), ``tables`` (what each table accepts, from the models), ``checks`` (the CHECK
constraints: the one-column ones as rules, the others named for the report), ``writing``
(staging, checks and the all-or-nothing load) and ``report`` (errors, report, reject files).
"""

from iwm_lab.importing.readers import FORMATS
from iwm_lab.importing.report import ImportReport, RowError, default_reject_path
from iwm_lab.importing.tables import IMPORTABLE_TABLES
from iwm_lab.importing.writing import import_file

__all__ = [
    "FORMATS",
    "IMPORTABLE_TABLES",
    "ImportReport",
    "RowError",
    "default_reject_path",
    "import_file",
]
