"""Personal data never reaches Temporal in plaintext: the server's raw history and description
of a saga hold the student's name and email only sealed, and the payload keys open them."""

import uuid
from collections.abc import Iterator

from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload, WorkflowExecution
from temporalio.api.workflowservice.v1 import (
    DescribeWorkflowExecutionRequest,
    DescribeWorkflowExecutionResponse,
    GetWorkflowExecutionHistoryRequest,
)

from common.payload_keys import parse_keys
from orchestrator.codec import EncryptionCodec
from tests.e2e.conftest import System, new_student, run_saga
from tests.support.temporal import TEST_PAYLOAD_KEYS
from workflows.contracts import workflow_id_for


def payloads_in(message: Message) -> Iterator[Payload]:
    """Every Payload nested anywhere in a protobuf message (maps and lists included)."""
    if isinstance(message, Payload):
        yield message
        return
    for field, value in message.ListFields():
        if field.message_type is None:
            continue  # a scalar, or a list of them
        if field.message_type.GetOptions().map_entry:
            items = list(value.values())
        elif isinstance(value, Message):
            items = [value]
        else:
            items = list(value)  # a repeated field
        for item in items:
            if isinstance(item, Message):
                yield from payloads_in(item)


async def raw_history_and_description(system: System, student_id: str) -> list[Message]:
    """What the server stores, fetched over gRPC without the client's data converter."""
    namespace = system.temporal.namespace
    execution = WorkflowExecution(workflow_id=workflow_id_for(student_id))
    service = system.temporal.workflow_service
    messages: list[Message] = []
    page_token = b""
    while True:
        page = await service.get_workflow_execution_history(
            GetWorkflowExecutionHistoryRequest(
                namespace=namespace, execution=execution, next_page_token=page_token
            )
        )
        messages.append(page.history)
        page_token = page.next_page_token
        if not page_token:
            break
    description = await service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(namespace=namespace, execution=execution)
    )
    messages.append(description)
    return messages


def student_with_unique_personal_data(payment_token: str) -> dict[str, str]:
    marker = uuid.uuid4().hex[:12]
    return new_student(payment_token=payment_token) | {
        "name": f"Ada Lovelace {marker}",
        "email": f"ada.{marker}@example.com",
    }


async def assert_personal_data_only_sealed(system: System, student: dict[str, str]) -> None:
    secrets = [student["name"].encode(), student["email"].encode()]
    stored = await raw_history_and_description(system, student["student_id"])

    raw = b"".join(message.SerializeToString() for message in stored)
    assert all(secret not in raw for secret in secrets)

    codec = EncryptionCodec(parse_keys(TEST_PAYLOAD_KEYS))
    sealed = [payload for message in stored for payload in payloads_in(message)]
    opened = b"".join(payload.data for payload in await codec.decode(sealed))
    assert all(secret in opened for secret in secrets)


async def test_a_completed_saga_stores_the_students_name_and_email_only_encrypted(
    system: System,
) -> None:
    student = student_with_unique_personal_data("tok_visa")
    assert (await run_saga(system, student))["status"] == "COMPLETED"

    await assert_personal_data_only_sealed(system, student)


async def test_a_compensated_saga_with_failures_and_a_memo_stores_them_only_encrypted(
    system: System,
) -> None:
    student = student_with_unique_personal_data("tok_declined")
    assert (await run_saga(system, student))["status"] == "COMPENSATED"

    await assert_personal_data_only_sealed(system, student)
    stored = await raw_history_and_description(system, student["student_id"])
    raw = b"".join(message.SerializeToString() for message in stored)
    assert b"declined" not in raw.lower()  # the failure reason, in failures and the memo


async def test_what_the_ui_shows_of_a_saga_holds_no_personal_data_even_decrypted(
    system: System,
) -> None:
    """Summaries (of the run and of each activity), the memo and the search attributes are
    what the Temporal UI shows to everyone who can open it: decrypted, they name steps, courses
    and amounts, never the student's name, email or payment token."""
    student = student_with_unique_personal_data("tok_declined")
    assert (await run_saga(system, student))["status"] == "COMPENSATED"
    stored = await raw_history_and_description(system, student["student_id"])
    history, description = stored[:-1], stored[-1]
    assert isinstance(description, DescribeWorkflowExecutionResponse)

    metadata = [
        payload
        for page in history
        for event in page.events  # type: ignore[attr-defined]
        for payload in (event.user_metadata.summary, event.user_metadata.details)
        if payload.data
    ]
    memo = list(description.workflow_execution_info.memo.fields.values())
    codec = EncryptionCodec(parse_keys(TEST_PAYLOAD_KEYS))
    shown = b"".join(payload.data for payload in await codec.decode([*metadata, *memo]))
    attributes = description.workflow_execution_info.search_attributes.SerializeToString()

    assert b"reserve a seat in CS101" in shown  # the check reads what the UI shows
    for private in (student["name"], student["email"], student["payment_token"]):
        assert private.encode() not in shown + attributes
