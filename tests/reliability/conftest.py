"""One dev stack for the reliability tests, as `make up` runs it but on free ports, in a
temporary directory, with fault injection on: real processes that the tests kill and restart.
The services use PostgreSQL when TEST_POSTGRES_URL is set (CI), their SQLite files otherwise.

Between tests every fault rule is removed and every process that is down is started again, so
each test begins with a healthy system; each test ends by running the invariant checker.
"""

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import pytest

from devstack.config import DevstackSettings
from devstack.stack import Stack
from devstack.system import System, running_system
from orchestrator.ops.invariants import check
from sagas import SagaDeadlines
from tests.support.databases import fresh_postgres_database, postgres_admin_url

# Short deadlines, so that "down past the deadline" takes seconds: a step gives up after
# `step_seconds`; attempts and retries are short so a killed worker's attempt is retried soon.
FAST = SagaDeadlines(
    step_seconds=30,
    attempt_seconds=5,
    max_retry_interval_seconds=1,
    max_compensation_retry_interval_seconds=1,
)


@contextmanager
def service_databases() -> Iterator[tuple[str | None, str | None]]:
    """Fresh PostgreSQL databases for both services when TEST_POSTGRES_URL is set (CI), so the
    crashes hit real concurrent transactions; otherwise None: each service's own SQLite file."""
    admin_url = postgres_admin_url()
    if admin_url is None:
        yield None, None
        return
    with (
        fresh_postgres_database(admin_url) as enrollment,
        fresh_postgres_database(admin_url) as billing,
    ):
        yield enrollment, billing


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    data_dir = tmp_path_factory.mktemp("reliability")
    log = (data_dir / "stack.log").open("a", buffering=1)
    with log, service_databases() as (enrollment_database, billing_database):
        settings = DevstackSettings.on_free_ports(
            data_dir=data_dir / "data",
            enrollment_database_url=enrollment_database,
            billing_database_url=billing_database,
            fault_injection=True,
        )
        with Stack(settings, log=lambda line: print(line, file=log)) as running:
            yield running


@pytest.fixture(scope="package")
async def running(stack: Stack) -> AsyncIterator[System]:
    async with running_system(stack) as system:
        yield system


@pytest.fixture
async def system(running: System) -> AsyncIterator[System]:
    await running.heal()
    for faults in running.faults.values():
        await faults.clear()
    yield running
    await running.heal()
    for faults in running.faults.values():
        await faults.clear()


async def assert_invariants_hold(system: System) -> None:
    """Every saga of the session (not only this test's) is consistent with the services."""
    assert await system.wait_until_quiet(timeout=120), "sagas still running"
    report = await check(system.temporal, system.settings)
    assert report.violations == []
