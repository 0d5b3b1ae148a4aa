"""Saga mode claims (the mode a student's saga runs in, claimed by its first start) and the run
of each choreographed saga (a retry is a new run).

Revision ID: 0002_saga_mode_claims
Revises: 0001
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import inspect

from common.migrations import existing_tables

revision: str = "0002_saga_mode_claims"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A database made by create_all before there were migrations may have these already.
    if "saga_mode_claim" not in existing_tables():
        op.create_table(
            "saga_mode_claim",
            sa.Column("student_id", sa.String(length=100), nullable=False),
            sa.Column("mode", sa.String(length=16), nullable=False),
            sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("student_id"),
        )
    if "run" not in _columns("choreographed_saga"):
        with op.batch_alter_table("choreographed_saga") as table:
            table.add_column(sa.Column("run", sa.Integer(), server_default="1", nullable=False))


def _columns(table: str) -> set[str]:
    if op.get_context().as_sql:
        return set()
    return {column["name"] for column in inspect(op.get_bind()).get_columns(table)}


def downgrade() -> None:
    with op.batch_alter_table("choreographed_saga") as table:
        table.drop_column("run")
    op.drop_table("saga_mode_claim")
