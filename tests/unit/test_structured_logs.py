"""The structured log format and the saga ids it carries, without any server."""

import json
import logging
import sys

from starlette.types import Message, Receive, Scope, Send

from common.logs import (
    JsonFormatter,
    SagaLogContext,
    SagaLogContextMiddleware,
    TextFormatter,
    current_saga,
    saga_logging,
)
from common.settings import ObservabilitySettings

SAGA = SagaLogContext("stu 1/é", "student-onboarding-stu 1/é", "run-1")


def _record(message: str = "hello", **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("test", logging.INFO, __file__, 1, message, None, None)
    record.__dict__.update(extra)
    return record


def test_the_saga_ids_survive_a_trip_through_a_baggage_header_among_other_members() -> None:
    header = f"other=1,{SAGA.baggage()};property,last=2"

    assert SagaLogContext.from_baggage(header) == SAGA


def test_baggage_without_a_student_id_names_no_saga() -> None:
    assert SagaLogContext.from_baggage("saga.workflow_id=w,saga.run_id=r") is None
    assert SagaLogContext.from_baggage("") is None


def test_a_choreographed_saga_is_named_by_its_student_id_alone() -> None:
    choreographed = SagaLogContext("stu-2")

    assert SagaLogContext.from_baggage(choreographed.baggage()) == choreographed
    with saga_logging(choreographed):
        line = json.loads(JsonFormatter().format(_record("reserving")))
    assert (line["student_id"], "workflow_id" in line) == ("stu-2", False)


def test_a_json_line_carries_the_ids_bound_in_its_context() -> None:
    with saga_logging(SAGA):
        line = json.loads(JsonFormatter().format(_record("reserved")))

    assert line["message"] == "reserved"
    assert (line["student_id"], line["workflow_id"], line["run_id"]) == (
        SAGA.student_id,
        SAGA.workflow_id,
        SAGA.run_id,
    )


def test_a_json_line_takes_the_ids_temporal_loggers_add_and_those_passed_in_extra() -> None:
    record = _record(
        temporal_activity={"workflow_id": "wf", "workflow_run_id": "run", "attempt": 1},
        student_id="stu",
    )

    line = json.loads(JsonFormatter().format(record))

    assert (line["student_id"], line["workflow_id"], line["run_id"]) == ("stu", "wf", "run")


def test_a_line_about_no_saga_has_no_saga_fields_and_keeps_its_traceback() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = _record("failed", exc_info=sys.exc_info())

    line = json.loads(JsonFormatter().format(record))

    assert not {"student_id", "workflow_id", "run_id"} & set(line)
    assert "ValueError: boom" in line["exception"]


def test_a_text_line_ends_with_the_saga_ids() -> None:
    with saga_logging(SAGA):
        text = TextFormatter().format(_record("reserved"))

    assert text.endswith(
        f"reserved [student_id={SAGA.student_id} workflow_id={SAGA.workflow_id} run_id=run-1]"
    )


async def test_a_request_carrying_saga_baggage_is_handled_with_the_saga_bound() -> None:
    """The middleware alone, called as ASGI with an app that notes what is bound."""
    seen: list[SagaLogContext | None] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(current_saga())

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        pass

    middleware = SagaLogContextMiddleware(app)
    for headers in ([(b"baggage", SAGA.baggage().encode())], []):
        await middleware({"type": "http", "headers": headers}, receive, send)

    assert seen == [SAGA, None]
    assert current_saga() is None


def test_the_log_settings_read_a_level_in_any_case() -> None:
    settings = ObservabilitySettings.model_validate({"log_level": "debug", "log_format": "json"})

    assert (settings.log_level, settings.log_format) == ("DEBUG", "json")
