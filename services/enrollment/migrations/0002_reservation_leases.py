"""Reservation leases: the expiry of a choreographed saga's PENDING reservation.

Revision ID: 0002_reservation_leases
Revises: 0001
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from common.migrations import existing_tables

revision: str = "0002_reservation_leases"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A database made by create_all before there were migrations may have the table already.
    if "reservation_lease" in existing_tables():
        return
    op.create_table(
        "reservation_lease",
        sa.Column("enrollment_id", sa.String(length=36), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("saga_run", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("enrollment_id"),
    )
    op.create_index("ix_reservation_lease_expires_at", "reservation_lease", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_reservation_lease_expires_at", table_name="reservation_lease")
    op.drop_table("reservation_lease")
