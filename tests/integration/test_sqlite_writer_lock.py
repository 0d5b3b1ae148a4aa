"""On SQLite, a process's transactions on one engine hold the engine's writer lock from their
`BEGIN IMMEDIATE` to their end (common/database.py, `SerialisedConnection`), so its threads
queue on the lock instead of sleeping in SQLite's busy handler."""

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

import common.database
from common.database import SerialisedConnection, create_database_engine


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_database_engine(f"sqlite:///{tmp_path / 'service.db'}")
    with Session(engine) as session:
        session.execute(text("CREATE TABLE seat (id INTEGER PRIMARY KEY)"))
        session.commit()
    yield engine
    engine.dispose()


def _writer(session: Session) -> threading.Lock:
    connection = session.connection().connection.dbapi_connection
    assert isinstance(connection, SerialisedConnection)
    return connection.writer


def test_a_transaction_holds_the_writer_lock_until_it_commits(engine: Engine) -> None:
    with Session(engine) as session:
        session.execute(text("INSERT INTO seat DEFAULT VALUES"))
        writer = _writer(session)
        assert writer.locked()

        session.commit()

        assert not writer.locked()


def test_a_rollback_and_a_session_closed_mid_transaction_release_it(engine: Engine) -> None:
    with Session(engine) as session:
        session.execute(text("INSERT INTO seat DEFAULT VALUES"))
        writer = _writer(session)
        session.rollback()
        assert not writer.locked()

        session.execute(text("INSERT INTO seat DEFAULT VALUES"))
        assert writer.locked()

    assert not writer.locked()
    with Session(engine) as session:
        assert session.execute(text("SELECT count(*) FROM seat")).scalar_one() == 0
        session.commit()


def test_another_thread_waits_on_the_lock_not_in_sqlites_busy_handler(engine: Engine) -> None:
    # The waiting connection gets no busy timeout at all: were it to reach SQLite while the
    # first transaction holds the write lock, its BEGIN IMMEDIATE would fail at once.
    waiting = engine.raw_connection()
    connection = waiting.dbapi_connection
    assert isinstance(connection, SerialisedConnection)
    connection.execute("PRAGMA busy_timeout=0")
    counted: list[int] = []
    failures: list[sqlite3.Error] = []

    def count_the_seats() -> None:
        try:
            connection.begin_immediate()
            counted.append(connection.execute("SELECT count(*) FROM seat").fetchone()[0])
            connection.commit()
        except sqlite3.Error as error:
            failures.append(error)

    with Session(engine) as session:
        session.execute(text("INSERT INTO seat DEFAULT VALUES"))
        reader = threading.Thread(target=count_the_seats)
        reader.start()
        reader.join(timeout=0.2)
        assert reader.is_alive() and counted == []  # queued behind this transaction
        session.commit()
    reader.join(timeout=10)
    waiting.close()

    assert failures == []
    assert counted == [1]


def test_a_wait_longer_than_the_busy_timeout_fails_as_sqlite_would(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(common.database, "SQLITE_BUSY_TIMEOUT_MS", 100)
    failures: list[OperationalError] = []

    def write() -> None:
        try:
            with Session(engine) as session:
                session.execute(text("INSERT INTO seat DEFAULT VALUES"))
        except OperationalError as error:
            failures.append(error)

    with Session(engine) as session:
        session.execute(text("INSERT INTO seat DEFAULT VALUES"))
        writer = threading.Thread(target=write)
        writer.start()
        writer.join(timeout=10)
        session.commit()

    assert len(failures) == 1
    assert isinstance(failures[0].orig, sqlite3.OperationalError)
    assert "database is locked" in str(failures[0])


def test_a_connection_that_holds_no_transaction_releases_nothing(engine: Engine) -> None:
    with Session(engine) as holder, Session(engine) as idle:
        holder.execute(text("INSERT INTO seat DEFAULT VALUES"))
        writer = _writer(holder)
        idle_connection = engine.raw_connection()
        idle_connection.rollback()  # what the pool does to every connection it takes back
        idle_connection.close()

        assert writer.locked()
        holder.commit()
        idle.commit()
