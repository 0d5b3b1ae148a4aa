"""Saga mode claims: the mode a student's saga runs in, claimed by its first start.

Revision ID: 0002_saga_mode_claims
Revises: 0001
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from common.migrations import existing_tables

revision: str = "0002_saga_mode_claims"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A database made by create_all before there were migrations may have the table already.
    if "saga_mode_claim" in existing_tables():
        return
    op.create_table(
        "saga_mode_claim",
        sa.Column("student_id", sa.String(length=100), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("student_id"),
    )


def downgrade() -> None:
    op.drop_table("saga_mode_claim")
