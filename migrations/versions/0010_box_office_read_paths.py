"""Covering indexes for the box office's whole-table aggregations.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30

``queries.box_office.regional_split`` over every weekend groups all of ``box_office_grosses``
by region, currency and movie, and ``budget_multiple(gross="box_office")`` by currency and
movie. Both read the table's wide rows and hashed 325,000 of them at scale large (174 and 223
to 239 ms). These indexes hold just the columns read, in the order grouped by: the queries
read them in that order and aggregate as the rows stream past (92 ms, and 114 to 176 ms).

The downgrade drops them.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = {
    "idx_box_office_grosses_runs": (
        "box_office_grosses (region, currency, movie_id) "
        "INCLUDE (weekend_start, week_gross, weekend_gross)"
    ),
    "idx_box_office_grosses_currency_movie": (
        "box_office_grosses (currency, movie_id) INCLUDE (week_gross)"
    ),
}


def upgrade() -> None:
    for name, definition in _INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON {definition}")


def downgrade() -> None:
    for name in _INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
