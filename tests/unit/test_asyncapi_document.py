"""docs/asyncapi.json is what `faststream docs gen` makes of the code today, not a stale copy."""

import json
from pathlib import Path

from choreography.asyncapi import specification
from choreography.events import EVENT_TYPES, type_name

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.json"
REGENERATE = (
    "regenerate it: .venv/bin/faststream docs gen --factory "
    "choreography.asyncapi:specification --out docs/asyncapi.json"
)


def test_the_committed_asyncapi_document_matches_the_code() -> None:
    generated = specification().schema.to_specification().to_jsonable()

    assert json.loads(DOCUMENT.read_text()) == generated, REGENERATE


def test_the_asyncapi_document_describes_every_event() -> None:
    schemas = json.loads(DOCUMENT.read_text())["components"]["schemas"]

    assert {type_name(event_class) for event_class in EVENT_TYPES} <= set(schemas)
