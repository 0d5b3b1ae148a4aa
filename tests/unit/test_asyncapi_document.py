"""docs/asyncapi.json is what `faststream docs gen` makes of the code today, not a stale copy."""

import json
from pathlib import Path

from choreography.events import EVENT_TYPES, type_name
from orchestrator.intake.asyncapi import specification

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.json"
REGENERATE = (
    "regenerate it: .venv/bin/faststream docs gen --factory "
    "orchestrator.intake.asyncapi:specification --out docs/asyncapi.json"
)


def test_the_committed_asyncapi_document_matches_the_code() -> None:
    generated = specification().schema.to_specification().to_jsonable()

    assert json.loads(DOCUMENT.read_text()) == generated, REGENERATE


def test_the_asyncapi_document_describes_every_event() -> None:
    schemas = json.loads(DOCUMENT.read_text())["components"]["schemas"]

    assert {type_name(event_class) for event_class in EVENT_TYPES} <= set(schemas)


def test_the_asyncapi_document_gives_the_intakes_channel_and_message_contract() -> None:
    document = json.loads(DOCUMENT.read_text())
    channel = document["channels"]["intake:students.created"]
    message = document["components"]["messages"]["intake:students.created:SubscribeMessage"]
    schema = document["components"]["schemas"][message["payload"]["$ref"].split("/")[-1]]

    assert channel["address"] == "students.created"
    assert "exchange students" in channel["description"]
    assert "routing key student.created" in channel["description"]
    assert set(schema["required"]) == {
        "type",
        "version",
        "student_id",
        "name",
        "email",
        "course_id",
        "payment_token",
    }
    assert schema["properties"]["type"]["const"] == "StudentCreated"
    assert schema["properties"]["version"]["const"] == 1
