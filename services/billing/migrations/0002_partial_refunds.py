"""Partial refunds: a refund table (several per charge) and revoked refund keys.

A charge REFUNDED before this revision recorded its refund on the charge row alone; it gets
the refund row of its full amount, so that its `refunded_cents` equals its `amount_cents`
like every charge refunded after.

The code before this revision tolerates it (it never reads the new tables), but it would see a
partially refunded charge as all captured: roll the code back past it only with that in mind.
A downgrade drops the refunds, partial ones included: back the database up first.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from common.migrations import existing_tables

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# 'full-refund-of-' and a charge id (36): within refund_id's 64 characters.
BACKFILL_FULL_REFUNDS = """
INSERT INTO refund (refund_id, charge_id, amount_cents, status, created_at)
SELECT 'full-refund-of-' || charge_id, charge_id, amount_cents, 'REFUNDED',
       COALESCE(refunded_at, created_at)
FROM charge
WHERE status = 'REFUNDED'
  AND NOT EXISTS (SELECT 1 FROM refund WHERE refund.charge_id = charge.charge_id)
"""


def upgrade() -> None:
    # As in 0001: a database made by create_all may hold these tables already.
    existing = existing_tables()
    if "revokedrefundkey" not in existing:
        op.create_table(
            "revokedrefundkey",
            sa.Column("idempotency_key", sa.String(length=255), nullable=False),
            sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("idempotency_key"),
        )
    if "refund" not in existing:
        op.create_table(
            "refund",
            sa.Column("refund_id", sa.String(length=64), nullable=False),
            sa.Column("charge_id", sa.String(length=36), nullable=False),
            sa.Column("amount_cents", sa.Integer(), nullable=False),
            sa.Column("status", sa.String(length=16), nullable=False),
            sa.Column("idempotency_key", sa.String(length=255), nullable=True),
            sa.Column("request_fingerprint", sa.String(length=64), nullable=True),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("reversed_at", sa.DateTime(timezone=True), nullable=True),
            sa.ForeignKeyConstraint(["charge_id"], ["charge.charge_id"]),
            sa.PrimaryKeyConstraint("refund_id"),
            sa.UniqueConstraint("idempotency_key"),
        )
        op.create_index("ix_refund_charge_id", "refund", ["charge_id"])
    op.execute(BACKFILL_FULL_REFUNDS)


def downgrade() -> None:
    op.drop_table("refund")
    op.drop_table("revokedrefundkey")
