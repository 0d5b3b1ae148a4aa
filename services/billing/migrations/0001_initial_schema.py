"""Initial schema: charges, revoked charge keys, outbox and inbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from common.migrations import existing_tables

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A database made by create_all before there were migrations holds some of these tables
    # already (the outbox and inbox only if the service ran with a broker): it is adopted by
    # creating only the ones it lacks.
    existing = existing_tables()
    if "charge" not in existing:
        op.create_table(
            "charge",
            sa.Column("student_id", sa.String(length=100), nullable=False),
            sa.Column("enrollment_id", sa.String(length=36), nullable=False),
            sa.Column("amount_cents", sa.Integer(), nullable=False),
            sa.Column("currency", sa.String(length=3), nullable=False),
            sa.Column("charge_id", sa.String(length=36), nullable=False),
            sa.Column("status", sa.String(length=16), nullable=False),
            sa.Column("idempotency_key", sa.String(length=255), nullable=False),
            sa.Column("request_fingerprint", sa.String(length=64), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("refunded_at", sa.DateTime(timezone=True), nullable=True),
            sa.PrimaryKeyConstraint("charge_id"),
            sa.UniqueConstraint("idempotency_key"),
        )
        op.create_index("ix_charge_enrollment_id", "charge", ["enrollment_id"])
        op.create_index("ix_charge_student_id", "charge", ["student_id"])
    if "revokedchargekey" not in existing:
        op.create_table(
            "revokedchargekey",
            sa.Column("idempotency_key", sa.String(length=255), nullable=False),
            sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("idempotency_key"),
        )
    if "outbox" not in existing:
        op.create_table(
            "outbox",
            sa.Column("position", sa.Integer(), nullable=False),
            sa.Column("event_id", sa.String(length=36), nullable=False),
            sa.Column("event_type", sa.String(length=64), nullable=False),
            sa.Column("student_id", sa.String(length=100), nullable=False),
            sa.Column("payload", sa.String(), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
            sa.PrimaryKeyConstraint("position"),
            sa.UniqueConstraint("event_id"),
        )
        op.create_index("ix_outbox_published_at", "outbox", ["published_at"])
    if "inbox" not in existing:
        op.create_table(
            "inbox",
            sa.Column("event_id", sa.String(length=36), nullable=False),
            sa.Column("event_type", sa.String(length=64), nullable=False),
            sa.Column("student_id", sa.String(length=100), nullable=False),
            sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("event_id"),
        )


def downgrade() -> None:
    for table in ("inbox", "outbox", "revokedchargekey", "charge"):
        op.drop_table(table)
