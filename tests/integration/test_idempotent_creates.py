"""common.idempotency's create path on SQLite and PostgreSQL: a new row goes in as one Core
INSERT of its columns, a key taken meanwhile answers the winner's row, and any other conflict
is raised with nothing stored."""

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from common.database import create_database_engine, create_tables
from common.idempotency import commit_or_replay, find_by_idempotency_key
from services.billing.models import Charge, Refund


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_database_engine(database_url)
    create_tables(engine, (Charge, Refund))
    yield engine
    engine.dispose()


def charge(charge_id: str, idempotency_key: str, amount_cents: int = 1500) -> Charge:
    return Charge(
        charge_id=charge_id,
        student_id="stu-1",
        enrollment_id="enr-1",
        amount_cents=amount_cents,
        currency="USD",
        idempotency_key=idempotency_key,
        request_fingerprint="f" * 64,
        refunds=[],
    )


def stored(engine: Engine, charge_id: str) -> Charge | None:
    with Session(engine) as session:
        return session.get(Charge, charge_id)


def test_a_new_row_is_stored_with_every_column_and_answered_as_given(engine: Engine) -> None:
    new = charge("chg-1", "key-1")
    with Session(engine, expire_on_commit=False) as session:
        answered, created = commit_or_replay(session, new, lambda: None)

    assert created and answered is new
    row = stored(engine, "chg-1")
    assert row is not None
    assert row.model_dump() == new.model_dump()  # created_at included, as the client was told
    assert row.refunds == []


def test_a_key_taken_meanwhile_answers_the_winners_row(engine: Engine) -> None:
    with Session(engine) as session:
        commit_or_replay(session, charge("chg-winner", "key-1"), lambda: None)

    with Session(engine, expire_on_commit=False) as session:

        def replay_existing() -> Charge | None:
            return find_by_idempotency_key(session, Charge, "key-1")

        answered, created = commit_or_replay(
            session, charge("chg-loser", "key-1", amount_cents=999), replay_existing
        )

    assert not created
    assert answered.charge_id == "chg-winner"
    assert stored(engine, "chg-loser") is None


def test_a_conflict_that_is_not_the_keys_is_raised_and_stores_nothing(engine: Engine) -> None:
    with Session(engine) as session:
        commit_or_replay(session, charge("chg-1", "key-1"), lambda: None)

    with Session(engine) as session, pytest.raises(IntegrityError):
        # Another key but the same primary key: nothing to replay.
        commit_or_replay(session, charge("chg-1", "key-2"), lambda: None)

    with Session(engine) as session:
        keys = session.exec(select(Charge.idempotency_key)).all()
    assert keys == ["key-1"]
