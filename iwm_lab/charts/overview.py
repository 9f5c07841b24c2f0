"""Charts of :mod:`iwm_lab.queries.overview` results (data health)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from iwm_lab.charts._base import (
    HIGHLIGHT,
    NO_DATA,
    PALETTE,
    bar_chart,
    empty_figure,
)


def row_counts_chart(counts: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Horizontal bars of :func:`~iwm_lab.queries.overview.table_row_counts` on a log scale
    (tables differ by orders of magnitude); empty tables are listed by name in the note."""
    title = title or "Rows per table"
    filled = counts[counts["rows"] > 0]
    if filled.empty:
        return empty_figure(title, f"{NO_DATA}: every table is empty")
    return bar_chart(
        filled,
        x="table",
        y="rows",
        title=title,
        y_title="Rows (log scale)",
        horizontal=True,
        log=True,
    )


def null_shares_chart(shares: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Horizontal bars of :func:`~iwm_lab.queries.overview.null_shares`: the share of NULLs in
    each key column (columns of empty tables, whose share is unknown, are left out)."""
    title = title or "Missing values in key columns"
    known = shares.dropna(subset=["null_share"])
    if known.empty:
        return empty_figure(title)
    labelled = known.assign(column_name=known["table"] + "." + known["column"])
    fig = bar_chart(
        labelled,
        x="column_name",
        y="null_share",
        title=title,
        y_title="Share of rows with no value",
        horizontal=True,
        percent=True,
        hover=["nulls", "rows"],
    )
    return fig.update_xaxes(range=[0, 1])


def hash_audit_chart(audit: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Bars of :func:`~iwm_lab.queries.security.password_hash_audit`: users per Argon2
    parameter set, red where the current parameters would rehash it."""
    title = title or "Password hashes by Argon2 parameters"
    if audit.empty:
        return empty_figure(title)
    labels = [
        "not Argon2 / unreadable"
        if pd.isna(row.algorithm)
        else f"{row.algorithm} v{row.version} m={row.memory_kib} t={row.time_cost} "
        f"p={row.parallelism}"
        for row in audit.itertuples(index=False)
    ]
    flagged = audit.assign(
        parameters=labels,
        share=audit["share"].round(3),
        status=["needs rehash" if n else "current" for n in audit["needs_rehash"]],
    )
    fig = bar_chart(
        flagged,
        x="parameters",
        y="users",
        color="status",
        title=title,
        y_title="Users",
        horizontal=True,
        hover=["share"],
    )
    fig.for_each_trace(
        lambda t: t.update(marker_color=HIGHLIGHT if t.name == "needs rehash" else PALETTE[2])
    )
    return fig.update_layout(barmode="overlay", showlegend=True)
