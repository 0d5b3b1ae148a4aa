"""Initial schema: choreographed sagas, the saga tracker, outbox and inbox.

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
    # already (the API made them only when it ran with a broker): it is adopted by
    # creating only the ones it lacks.
    existing = existing_tables()
    if "choreographed_saga" not in existing:
        op.create_table(
            "choreographed_saga",
            sa.Column("student_id", sa.String(length=100), nullable=False),
            sa.Column("course_id", sa.String(length=32), nullable=False),
            sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("student_id"),
        )
    if "tracked_event" not in existing:
        op.create_table(
            "tracked_event",
            sa.Column("event_id", sa.String(length=36), nullable=False),
            sa.Column("student_id", sa.String(length=100), nullable=False),
            sa.Column("event_type", sa.String(length=64), nullable=False),
            sa.Column("payload", sa.String(), nullable=False),
            sa.PrimaryKeyConstraint("event_id"),
        )
        op.create_index("ix_tracked_event_student_id", "tracked_event", ["student_id"])
    if "saga_view" not in existing:
        op.create_table(
            "saga_view",
            sa.Column("student_id", sa.String(length=100), nullable=False),
            sa.Column("status", sa.String(length=16), nullable=False),
            sa.Column("state", sa.String(), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("student_id"),
        )
        op.create_index("ix_saga_view_status", "saga_view", ["status"])
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
    for table in ("inbox", "outbox", "saga_view", "tracked_event", "choreographed_saga"):
        op.drop_table(table)
