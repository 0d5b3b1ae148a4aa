"""The intake's message contract (orchestrator/intake/contract.py) and which dead letters a
redrive sends again (dead_letters.py)."""

import json
from typing import Any

import pytest

from orchestrator.intake.contract import BadMessage, Refusal, parse_event
from orchestrator.intake.dead_letters import (
    REASON_HEADER,
    RedrivePlan,
    dead_letter_headers,
    read_dead_letter,
)


def message(**changes: Any) -> dict[str, Any]:
    body = {
        "type": "StudentCreated",
        "version": 1,
        "student_id": "stu-1",
        "name": "Dorothy Vaughan",
        "email": "dorothy@example.com",
        "course_id": "CS101",
        "payment_token": "tok_visa",
    }
    return {**body, **changes}


def encoded(document: Any) -> bytes:
    return json.dumps(document).encode()


def refusal_of(body: bytes, content_type: str | None = "application/json") -> BadMessage:
    with pytest.raises(BadMessage) as caught:
        parse_event(body, content_type)
    return caught.value


def test_a_message_by_the_contract_is_the_event_post_students_would_start() -> None:
    event = parse_event(encoded(message()), "application/json; charset=utf-8")

    assert event.student_id == "stu-1"
    assert event.course_id == "CS101"


def test_a_field_the_contract_does_not_know_is_ignored() -> None:
    assert parse_event(encoded(message(nickname="Dot")), "application/json").name


@pytest.mark.parametrize("content_type", [None, "", "text/plain", "application/xml"])
def test_a_content_type_other_than_json_is_refused_like_http_415(content_type: str | None) -> None:
    assert refusal_of(encoded(message()), content_type).refusal == Refusal.CONTENT_TYPE


@pytest.mark.parametrize("body", [b"{", b"\xff\xfe", b"[1, 2]", b'"text"'])
def test_a_body_that_is_not_a_json_object_is_refused(body: bytes) -> None:
    assert refusal_of(body).refusal == Refusal.NOT_JSON


@pytest.mark.parametrize("event_type", ["StudentDeleted", None, 1])
def test_another_event_type_is_refused(event_type: object) -> None:
    error = refusal_of(encoded(message(type=event_type)))

    assert error.refusal == Refusal.UNKNOWN_TYPE
    assert error.student_id == "stu-1"


@pytest.mark.parametrize("version", [2, 0, "1", True, None])
def test_a_version_other_than_1_is_refused(version: object) -> None:
    assert refusal_of(encoded(message(version=version))).refusal == Refusal.UNKNOWN_VERSION


def test_invalid_fields_are_refused_each_one_named() -> None:
    document = message(email="nope", course_id="")
    del document["student_id"]

    error = refusal_of(encoded(document))

    assert error.refusal == Refusal.INVALID_FIELDS
    for field in ("student_id", "email", "course_id"):
        assert field in error.detail


def dead_letter(body: bytes, content_type: str | None = "application/json") -> Any:
    error = refusal_of(body, content_type)
    headers = {"traceparent": "00-abc-def-01", **dead_letter_headers(error, "students.created")}
    return read_dead_letter(body, content_type, headers)


def test_a_dead_letter_keeps_the_original_headers_apart_from_its_own() -> None:
    letter = dead_letter(encoded(message(email="nope")))

    assert letter.refusal == Refusal.INVALID_FIELDS
    assert "email" in letter.reason
    assert letter.headers == {"traceparent": "00-abc-def-01"}
    assert letter.student_id == "stu-1"
    assert REASON_HEADER not in letter.headers


def test_a_redrive_sends_again_only_the_letters_that_pass_the_contract_now() -> None:
    still_bad = dead_letter(encoded(message(email="nope")))
    corrected = dead_letter(encoded(message(email="nope")))
    plan = RedrivePlan(frozenset({corrected.id}), encoded(message(email="ok@example.com")))

    assert plan.decide(still_bad) is None
    republish = plan.decide(corrected)

    assert republish is not None
    assert json.loads(republish.body)["email"] == "ok@example.com"
    assert republish.content_type == "application/json"
    assert republish.headers == {"traceparent": "00-abc-def-01"}
    assert [outcome.redriven for outcome in plan.outcomes] == [True]


def test_a_redrive_without_a_correction_keeps_a_letter_that_is_still_bad_with_its_reason() -> None:
    letter = dead_letter(encoded(message(version=2)))
    plan = RedrivePlan()

    assert plan.decide(letter) is None
    assert plan.outcomes[0].redriven is False
    assert plan.outcomes[0].reason is not None and "version" in plan.outcomes[0].reason.lower()


def test_a_corrected_body_replaces_one_named_letter_only() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        RedrivePlan(frozenset(), b"{}")


def test_a_dry_run_republishes_nothing_but_says_what_it_would() -> None:
    letter = dead_letter(encoded(message()), "text/plain")
    plan = RedrivePlan(frozenset({letter.id}), encoded(message()), dry_run=True)

    assert plan.decide(letter) is None
    assert plan.outcomes[0].redriven is True
