"""Fixtures shared by every test layer."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from tests.support.databases import fresh_postgres_database, postgres_admin_url, sqlite_url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: SQLite always, PostgreSQL when TEST_POSTGRES_URL is set."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path, "service")
        return
    admin_url = postgres_admin_url()
    if admin_url is None:
        pytest.skip("PostgreSQL tests need TEST_POSTGRES_URL (CI sets it)")
    with fresh_postgres_database(admin_url) as url:
        yield url


@pytest.fixture(autouse=True, scope="session")
def settings_ignore_the_dotenv_file() -> Iterator[None]:
    """Settings built in tests never read the repository's .env, where `make up` keeps its
    development secrets (devstack/secrets.py): a test gets what it configures, nothing else."""
    with pytest.MonkeyPatch.context() as patch:
        for settings_class in _subclasses(BaseSettings):
            patch.setitem(settings_class.model_config, "env_file", None)
        yield


def _subclasses(cls: type[BaseSettings]) -> list[type[BaseSettings]]:
    found: list[type[BaseSettings]] = []
    for subclass in cls.__subclasses__():
        found += [subclass, *_subclasses(subclass)]
    return found
