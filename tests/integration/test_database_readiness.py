"""The services' readiness probe (common.database.database_is_reachable) on a real database."""

import pytest
from sqlalchemy import text
from sqlmodel import Session

from common import database
from common.database import create_database_engine, database_is_reachable


def test_the_probe_answers_while_another_transaction_holds_the_write_lock(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A short busy timeout: were the probe to queue for SQLite's write lock, as it did behind
    # a burst of writes after an outage (the chaos run), it would give up and answer False.
    monkeypatch.setattr(database, "SQLITE_BUSY_TIMEOUT_MS", 500)
    engine = create_database_engine(database_url)
    try:
        with Session(engine) as writer:
            writer.execute(text("CREATE TABLE IF NOT EXISTS probe_lock (id INTEGER)"))
            writer.execute(text("INSERT INTO probe_lock VALUES (1)"))  # holds the write lock

            assert database_is_reachable(engine) is True

            writer.rollback()
    finally:
        engine.dispose()


def test_the_probe_says_no_when_the_database_cannot_be_reached() -> None:
    engine = create_database_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")

    assert database_is_reachable(engine) is False
