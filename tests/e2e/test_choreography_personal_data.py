"""Personal data never travels or rests in plaintext in the choreography either: the raw
messages on the broker (events and dead letters), every table of the API's and the services'
databases and the logs hold the student's name, email and payment token only sealed, and the
saga still completes (billing opens the token with the payload keys)."""

import asyncio
import json
import sqlite3
import uuid
from pathlib import Path
from typing import Any

from choreography.bus import NatsBus, RabbitBus
from choreography.config import BrokerConfig
from choreography.events import from_json
from choreography.operations import list_dead_letters
from choreography.sealing import FieldSealer
from choreography.topology import ENROLLMENT
from common.payload_keys import parse_keys
from sagas import SagaStatus
from tests.e2e.conftest import System, new_student
from tests.support.logs import json_log_lines
from tests.support.temporal import TEST_PAYLOAD_KEYS

CHOREOGRAPHY = "choreography"


def a_student_with_personal_data() -> dict[str, str]:
    marker = uuid.uuid4().hex[:12]
    return {**new_student(), "name": f"Ada Lovelace {marker}", "email": f"ada.{marker}@example.com"}


def personal_values(student: dict[str, str]) -> list[str]:
    return [student["name"], student["email"], student["payment_token"]]


async def raw_broker_messages(broker: BrokerConfig, student_id: str) -> list[str]:
    """The student's messages as the broker holds them: the retained events and dead letters."""
    bus = RabbitBus(broker) if broker.kind == "rabbitmq" else NatsBus(broker)
    held: list[bytes] = []

    async def keep(payload: bytes) -> None:
        held.append(payload)

    await bus.start()
    try:
        await bus.replay_raw(keep)
    finally:
        await bus.close()
    letters = [letter.payload for letter in await list_dead_letters(broker)]
    texts = [payload.decode() for payload in held] + letters
    return [text for text in texts if json.loads(text).get("student_id") == student_id]


def rows_mentioning(database: Path, student_id: str) -> list[str]:
    """Every row of every table in the SQLite file that mentions the student, as text."""
    connection = sqlite3.connect(database)
    try:
        tables = [
            row[0]
            for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
        ]
        found = []
        for table in tables:
            for row in connection.execute(f'SELECT * FROM "{table}"'):
                text = " ".join(str(value) for value in row)
                if student_id in text:
                    found.append(text)
        return found
    finally:
        connection.close()


async def test_personal_data_is_sealed_on_the_broker_in_every_table_and_in_the_logs(
    choreographed: System,
) -> None:
    system = choreographed
    assert system.broker is not None and system.data_dir is not None
    completing, dead_lettered = a_student_with_personal_data(), a_student_with_personal_data()
    system.delivery_faults.fail_next(ENROLLMENT, "StudentCreated", times=1_000)
    with json_log_lines() as lines:
        await system.api.post("/students", json={**dead_lettered, "mode": CHOREOGRAPHY})
        await _wait_for_dead_letter(system.broker, dead_lettered["student_id"])
        system.delivery_faults.clear()
        await system.api.post("/students", json={**completing, "mode": CHOREOGRAPHY})
        saga = await system.wait_for_terminal(completing["student_id"])

    assert saga["status"] == SagaStatus.COMPLETED
    for student in (completing, dead_lettered):
        messages = await raw_broker_messages(system.broker, student["student_id"])
        rows = [
            row
            for database in ("api.db", "enrollment.db", "billing.db")
            for row in rows_mentioning(system.data_dir / database, student["student_id"])
        ]
        assert messages and rows
        held = messages + rows + [json.dumps(line) for line in lines]
        for value in personal_values(student):
            assert not [text for text in held if value in text], value
    # Sealed, not lost: the payload keys open what the broker holds.
    [created] = [
        event
        for event in map(
            from_json, await raw_broker_messages(system.broker, completing["student_id"])
        )
        if event.type == "StudentCreated"
    ]
    sealer = FieldSealer(parse_keys(TEST_PAYLOAD_KEYS))
    opened: dict[str, Any] = {
        field: sealer.open(created.student_id, field, getattr(created, field))
        for field in ("name", "email", "payment_token")
    }
    assert opened == {field: completing[field] for field in opened}


async def _wait_for_dead_letter(broker: BrokerConfig, student_id: str) -> None:
    for _ in range(600):
        if any(letter.student_id == student_id for letter in await list_dead_letters(broker)):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("no dead letter")
