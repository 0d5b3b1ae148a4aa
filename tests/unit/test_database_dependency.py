"""How a service route runs its use case: off the event loop, in a session of its own that is
closed (its connection back in the pool) when the use case returns or raises."""

import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session

from common.database import create_database_engine
from common.deps import Database


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
