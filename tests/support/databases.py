"""Databases for tests: a fresh SQLite file, or a fresh PostgreSQL database per test.

PostgreSQL is used when TEST_POSTGRES_URL is set (CI sets it); if it is set but unreachable the
tests fail rather than skip, so CI cannot silently lose them.
"""

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

POSTGRES_URL_VARIABLE = "TEST_POSTGRES_URL"


def postgres_admin_url() -> str | None:
    return os.environ.get(POSTGRES_URL_VARIABLE) or None


@contextmanager
def fresh_postgres_database(admin_url: str) -> Iterator[str]:
    """Create a throwaway database next to `admin_url`'s; yields its URL, drops it after."""
    name = f"saga_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def sqlite_url(directory: Path, name: str) -> str:
    return f"sqlite:///{directory / name}.db"
