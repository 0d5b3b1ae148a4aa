"""SQL engines for the services: SQLite by default, PostgreSQL when DATABASE_URL says so.

SQLite is tuned for many concurrent writers on one file: WAL journal, a busy timeout, and
`BEGIN IMMEDIATE` so a transaction takes the write lock up front. Without the latter, two
transactions that both read and then write fail with 'database is locked' instead of waiting.
Within one process, the threads' transactions on an engine also queue on a lock of the
engine's before they ask SQLite (`SerialisedConnection`): SQLite's busy handler makes a waiting
transaction sleep and retry with growing sleeps (up to 100 ms each), so under load a
transaction can lose the race again and again while others pass; measured on one enrollment
process at 100 concurrent requests, p99 latency 1.35 s against 0.64 s with the lock
(docs/benchmarks.md, tuning log entry 22; `Database.run` then queues the routes' use cases
before they take a thread, common/deps.py). Other processes on the same file (replicas)
still wait through the busy timeout.
"""

import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, event, text
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, SQLModel, create_engine

SQLITE_BUSY_TIMEOUT_MS = 30_000


def create_database_engine(database_url: str) -> Engine:
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return create_engine(database_url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        database_url,
        connect_args={
            "check_same_thread": False,
            "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
            "factory": SerialisedConnection,
        },
    )
    _tune_sqlite(engine)
    return engine


class SerialisedConnection(sqlite3.Connection):
    """A SQLite connection whose transactions hold its engine's `writer` lock from their
    `BEGIN IMMEDIATE` to their commit or rollback (or the connection's close), so that the
    threads of one process wait on the lock, each woken as soon as the one before it ends,
    instead of in SQLite's busy handler. Waits as long as the busy timeout would, then fails
    as SQLite would ('database is locked')."""

    writer: threading.Lock
    holds_writer = False

    def begin_immediate(self) -> None:
        if not self.writer.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000):
            raise sqlite3.OperationalError("database is locked")
        self.holds_writer = True
        try:
            self.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._release_writer()
            raise

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._release_writer()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._release_writer()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._release_writer()

    def _release_writer(self) -> None:
        # Also called without a transaction (the pool's rollback of a returned connection).
        if self.holds_writer:
            self.holds_writer = False
            self.writer.release()


def _tune_sqlite(engine: Engine) -> None:
    writer = threading.Lock()

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (see on_begin).
        dbapi_connection.isolation_level = None
        dbapi_connection.writer = writer
        cursor = dbapi_connection.cursor()
        _switch_to_wal(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Connection) -> None:
        dbapi_connection = connection.connection.dbapi_connection
        assert isinstance(dbapi_connection, SerialisedConnection)
        try:
            dbapi_connection.begin_immediate()
        except sqlite3.Error as error:
            # As SQLAlchemy reports a failed statement (e.g. OperationalError, 'database is
            # locked'), which it does not for what a `begin` listener raises.
            raise DBAPIError.instance("BEGIN IMMEDIATE", None, error, sqlite3.Error) from error


def _switch_to_wal(cursor: sqlite3.Cursor) -> None:
    """Switching a new database file to WAL takes an exclusive lock. When several processes
    open the new file at once (replicas starting together), SQLite answers the one whose lock
    upgrade would deadlock with another's with 'database is locked' at once, without waiting
    out the busy timeout (seen in tests/integration/test_migrations.py). So ask again, for as
    long as the busy timeout; once the file is in WAL mode the pragma only reads it."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def create_tables(engine: Engine, tables: Sequence[Any]) -> None:
    """Create only this service's tables: each service owns its own database."""
    table_objects: list[Table] = [table.__table__ for table in tables]
    SQLModel.metadata.create_all(engine, tables=table_objects)


def database_is_reachable(engine: Engine) -> bool:
    """A bare `SELECT 1` on a pooled DBAPI connection, outside any transaction. Through a
    Connection it would start one, which on SQLite is `BEGIN IMMEDIATE` (see on_begin): the
    probe would queue for the write lock behind every writer, and after an outage, with every
    saga retrying at once, give up after the busy timeout and call a working service not ready
    (while blocking the event loop of the async route that asks)."""
    try:
        connection = engine.raw_connection()
        try:
            cursor = connection.cursor()
            cursor.execute("SELECT 1")
            cursor.close()
        finally:
            connection.close()
        return True
    except Exception:
        return False


def lock_idempotency_key(session: Session, idempotency_key: str) -> None:
    """Serialise this transaction with every other one about the same idempotency key.

    A row lock cannot guard a row that does not exist yet: under PostgreSQL's READ COMMITTED a
    request and the compensation of its key could each miss the other and both commit. A
    transaction-scoped advisory lock prevents that and is released when the transaction ends.
    SQLite needs nothing: `BEGIN IMMEDIATE` already serialises every transaction.
    """
    lock_for_transaction(session, idempotency_key)


def lock_for_transaction(bind: Session | Connection, key: str) -> None:
    """Hold an exclusive PostgreSQL advisory lock on `key` until the current transaction ends;
    on SQLite, nothing (its transactions begin with `BEGIN IMMEDIATE`, see on_begin)."""
    dialect = bind.dialect if isinstance(bind, Connection) else bind.get_bind().dialect
    if dialect.name == "postgresql":
        bind.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key})


def insert_unless_present(
    bind: Session | Connection, table: type[SQLModel], values: dict[str, Any], key: str
) -> bool:
    """INSERT a row unless one with the same `key` (a unique column) exists; True if inserted.
    One statement (`ON CONFLICT DO NOTHING`), where a read then a write would be two and, on
    PostgreSQL, a race. A concurrent insert of the same key waits for the other transaction."""
    dialect = bind.dialect if isinstance(bind, Connection) else bind.get_bind().dialect
    insert = postgresql_insert if dialect.name == "postgresql" else sqlite_insert
    core_table: Table = table.__table__  # type: ignore[attr-defined]
    statement = insert(core_table).values(**values).on_conflict_do_nothing(index_elements=[key])
    # RETURNING the key: a row back means inserted (rowcount is not reliable for every driver).
    return bind.execute(statement.returning(core_table.c[key])).first() is not None
