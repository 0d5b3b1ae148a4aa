"""Idempotent creation, the same in every service: a resource row carries the key it was
created with and a hash of the request body, under a unique constraint on the key.

A replay (same key, same body) answers the stored row; the same key with another body is
refused; two concurrent first requests with one key cannot both create (`claim_key` holds
`common.database.lock_idempotency_key`, and the unique constraint backs it up).

A compensation by key (`undo_by_key`) finds the row its step made; when the step never landed,
it records the key in a revoked-keys table (a tombstone), and `claim_key` then refuses a
request still in flight, so nothing is created after the saga gave up on it.
"""

from collections.abc import Callable
from functools import cache
from typing import TypeVar

from sqlalchemy import BindParameter, Insert, Select, bindparam, exists
from sqlalchemy import insert as sa_insert
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, col, select

from common.database import lock_idempotency_key


class IdempotencyKeyReused(Exception):
    def __init__(self, idempotency_key: str) -> None:
        super().__init__(
            f"Idempotency key '{idempotency_key}' was already used with a different request body."
        )


Row = TypeVar("Row", bound=SQLModel)


def find_by_idempotency_key(session: Session, table: type[Row], idempotency_key: str) -> Row | None:
    column = col(table.idempotency_key)  # type: ignore[attr-defined]
    return session.exec(select(table).where(column == idempotency_key)).first()


def replay(
    session: Session, table: type[Row], idempotency_key: str, fingerprint: str
) -> Row | None:
    """The row first created with this key, or None; refuses a different body under the key."""
    existing = find_by_idempotency_key(session, table, idempotency_key)
    if existing is not None and existing.request_fingerprint != fingerprint:  # type: ignore[attr-defined]
        raise IdempotencyKeyReused(idempotency_key)
    return existing


def commit_or_replay(
    session: Session, row: Row, replay_existing: Callable[[], Row | None]
) -> tuple[Row, bool]:
    """Commit a newly created row; if its key was taken meanwhile, answer the winner's row.

    The row goes in as one Core INSERT of its columns, not through the session: the ORM's
    flush sorts its unit of work (and a charge's refunds relationship) for a single new row
    (docs/benchmarks.md, tuning log, entry 25). The row answered stays transient, its fields
    as given (every column has its value in Python: no server defaults)."""
    table = type(row).__table__  # type: ignore[attr-defined]
    values = {column.key: getattr(row, column.key) for column in table.columns}
    try:
        session.connection().execute(_insert(type(row)), values)
        session.commit()
    except IntegrityError:
        session.rollback()
        existing = replay_existing()
        if existing is None:
            raise
        session.commit()
        return existing, False
    return row, True


def claim_key(
    session: Session,
    idempotency_key: str,
    table: type[SQLModel],
    replay_existing: Callable[[], Row | None],
    revoked: type[SQLModel],
    refusal: Callable[[str], Exception],
) -> Row | None:
    """The start of an idempotent create, under the key's lock: the row a first request made
    (committed: the caller answers it), None to go on creating; `refusal(key)` if a
    compensation revoked the key."""
    lock_idempotency_key(session, idempotency_key)
    probe = _key_probe(table, revoked)
    taken, revoked_key = session.connection().execute(probe, {"key": idempotency_key}).one()
    if taken:
        replayed = replay_existing()
        if replayed is not None:
            session.commit()
            return replayed
    if revoked_key:
        raise refusal(idempotency_key)
    return None


# Statements built once per table and run with their parameters: building a statement per
# call, and its cache key, cost SQLAlchemy more than running it (tuning log, entry 28).


@cache
def _key_probe(table: type[SQLModel], revoked: type[SQLModel]) -> Select[bool, bool]:
    """Whether a row of `table` holds the key, and whether `revoked` does: one statement of
    two indexed lookups, no ORM object (the common answer, for a first request, is no, no)."""
    key: BindParameter[str] = bindparam("key")
    return sa_select(
        exists().where(table.__table__.c.idempotency_key == key),  # type: ignore[attr-defined]
        exists().where(revoked.__table__.c.idempotency_key == key),  # type: ignore[attr-defined]
    )


@cache
def _insert(table: type[SQLModel]) -> Insert:
    return sa_insert(table.__table__)  # type: ignore[attr-defined]


def undo_by_key(
    session: Session, table: type[Row], revoked: type[SQLModel], idempotency_key: str
) -> Row | None:
    """The start of a compensation by key, under the key's lock: the row the step made (the
    caller undoes it), or None once the key is revoked (committed) because it made none."""
    lock_idempotency_key(session, idempotency_key)
    row = find_by_idempotency_key(session, table, idempotency_key)
    if row is None:
        if session.get(revoked, idempotency_key) is None:
            session.add(revoked(idempotency_key=idempotency_key))
        session.commit()
    return row
