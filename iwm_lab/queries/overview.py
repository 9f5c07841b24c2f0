"""Data health: how much is in the database."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Connection, func, select

from iwm_lab.models import Base


def table_row_counts(conn: Connection) -> pd.DataFrame:
    """Exact row count of every table in the models.

    Columns: ``table`` (table name), ``rows`` (int64, exact ``count(*)``). Sorted by table name.
    """
    tables = sorted(Base.metadata.tables.values(), key=lambda t: t.name)
    counts = [conn.execute(select(func.count()).select_from(t)).scalar_one() for t in tables]
    return pd.DataFrame(
        {"table": [t.name for t in tables], "rows": pd.Series(counts, dtype="int64")}
    )
