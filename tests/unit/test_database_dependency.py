"""How a service route runs its use case: off the event loop, in a session of its own that is
closed (its connection back in the pool) when the use case returns or raises; on SQLite one at
a time."""

import asyncio
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session

from common.database import create_database_engine
from common.deps import Database
from tests.support.databases import fresh_postgres_database, postgres_admin_url


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return create_database_engine(f"sqlite:///{tmp_path / 'service.db'}")


async def test_a_use_case_runs_in_a_worker_thread_and_gives_its_answer(engine: Engine) -> None:
    threads: list[int] = []

    def use_case(session: Session, number: int) -> int:
        threads.append(threading.get_ident())
        return number + session.execute(text("SELECT 1")).scalar_one()

    assert await Database(engine).run(use_case, 41) == 42
    assert len(threads) == 1 and threads[0] != threading.get_ident()


async def test_the_session_is_closed_when_the_use_case_returns(engine: Engine) -> None:
    def use_case(session: Session) -> None:
        session.execute(text("SELECT 1"))
        assert engine.pool.checkedout() == 1  # type: ignore[attr-defined]

    await Database(engine).run(use_case)

    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_a_refusal_reaches_the_route_and_the_session_is_closed(engine: Engine) -> None:
    def use_case(session: Session) -> None:
        session.execute(text("SELECT 1"))
        raise LookupError("no such charge")

    with pytest.raises(LookupError, match="no such charge"):
        await Database(engine).run(use_case)

    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_on_sqlite_the_use_cases_run_one_at_a_time_in_arrival_order(engine: Engine) -> None:
    running = peak = 0
    finished: list[int] = []
    counting = threading.Lock()

    def use_case(session: Session, number: int) -> None:
        nonlocal running, peak
        with counting:
            running += 1
            peak = max(peak, running)
        session.execute(text("SELECT 1"))
        time.sleep(0.01)  # long enough for another thread to start, were one allowed to
        finished.append(number)
        with counting:
            running -= 1

    database = Database(engine)
    await asyncio.gather(*(database.run(use_case, number) for number in range(8)))

    assert peak == 1
    assert finished == list(range(8))


@pytest.mark.postgres
async def test_on_postgresql_the_use_cases_run_side_by_side() -> None:
    admin_url = postgres_admin_url()
    if admin_url is None:
        pytest.skip("PostgreSQL tests need TEST_POSTGRES_URL (CI sets it)")
    both_inside = threading.Barrier(2, timeout=10)

    def use_case(session: Session) -> None:
        session.execute(text("SELECT 1"))
        both_inside.wait()  # raises BrokenBarrierError unless the other one runs meanwhile

    with fresh_postgres_database(admin_url) as url:
        engine = create_database_engine(url)
        database = Database(engine)
        await asyncio.gather(database.run(use_case), database.run(use_case))
        engine.dispose()
