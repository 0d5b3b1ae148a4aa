"""The trace context of each outbox row: the span that staged the event, which the relay's
producer span continues (choreography/tracing.py). Nullable: rows staged untraced, or before
this revision, have none and start a trace of their own when published.

Revision ID: 0003_outbox_trace_context
Revises: 0002_saga_mode_claims
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import inspect

revision: str = "0003_outbox_trace_context"
down_revision: str | Sequence[str] | None = "0002_saga_mode_claims"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A database made by create_all before there were migrations may have the column already.
    if "trace_context" not in _columns("outbox"):
        with op.batch_alter_table("outbox") as table:
            table.add_column(sa.Column("trace_context", sa.String(), nullable=True))


def _columns(table: str) -> set[str]:
    if op.get_context().as_sql:
        return set()
    return {column["name"] for column in inspect(op.get_bind()).get_columns(table)}


def downgrade() -> None:
    with op.batch_alter_table("outbox") as table:
        table.drop_column("trace_context")
