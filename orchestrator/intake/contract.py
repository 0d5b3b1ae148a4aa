"""The message contract of the registry's `StudentCreated` event, and the one check of it.

A message is a JSON object `{"type": "StudentCreated", "version": 1, "student_id", "name",
"email", "course_id", "payment_token"}` sent as `application/json`. Its fields are validated by
the model `POST /students` builds its event with (workflows.contracts.NewStudent), so a
field refused over HTTP is refused here, named the same way. Fields the model does not know are
ignored: a producer may add one without breaking this consumer (version 1 stays version 1).
"""

import json
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from common.requests import is_json_media_type
from workflows.contracts import NewStudent

EVENT_TYPE = "StudentCreated"
SUPPORTED_VERSIONS = frozenset({1})
CONTENT_TYPE = "application/json"
ENVELOPE_FIELDS = ("type", "version")


class Refusal(StrEnum):
    """Why a message was dead-lettered; each is final: delivering it again cannot help."""

    CONTENT_TYPE = "unsupported-content-type"  # the broker-side twin of HTTP 415
    NOT_JSON = "not-json"
    UNKNOWN_TYPE = "unknown-event-type"
    UNKNOWN_VERSION = "unknown-event-version"
    INVALID_FIELDS = "invalid-fields"  # the twin of HTTP 422


class BadMessage(Exception):
    def __init__(self, refusal: Refusal, detail: str, student_id: str | None = None) -> None:
        super().__init__(f"{refusal}: {detail}")
        self.refusal = refusal
        self.detail = detail
        self.student_id = student_id


def parse_event(body: bytes, content_type: str | None) -> NewStudent:
    """The event a message carries; BadMessage says what is wrong with it."""
    if not is_json_media_type(content_type or ""):
        raise BadMessage(
            Refusal.CONTENT_TYPE,
            f"Send the body as JSON with content type {CONTENT_TYPE} "
            f"(got {content_type or 'none'}).",
        )
    try:
        document: Any = json.loads(body)
    except ValueError as error:  # UnicodeDecodeError included
        raise BadMessage(Refusal.NOT_JSON, f"The body is not valid JSON: {error}.") from error
    if not isinstance(document, dict):
        raise BadMessage(Refusal.NOT_JSON, "The body is JSON but not an object.")
    student_id = document.get("student_id")
    named = student_id if isinstance(student_id, str) else None
    event_type = document.get("type")
    if event_type != EVENT_TYPE:
        raise BadMessage(
            Refusal.UNKNOWN_TYPE,
            f"Expected type {EVENT_TYPE!r}, got {event_type!r}.",
            named,
        )
    version = document.get("version")
    # bool is an int in Python; `true` is no version.
    if isinstance(version, bool) or version not in SUPPORTED_VERSIONS:
        supported = ", ".join(str(v) for v in sorted(SUPPORTED_VERSIONS))
        raise BadMessage(
            Refusal.UNKNOWN_VERSION,
            f"Version {version!r} of {EVENT_TYPE} is not supported (supported: {supported}).",
            named,
        )
    fields = {name: value for name, value in document.items() if name not in ENVELOPE_FIELDS}
    try:
        return NewStudent.model_validate(fields)
    except ValidationError as error:
        raise BadMessage(Refusal.INVALID_FIELDS, field_errors(error), named) from error


def field_errors(error: ValidationError) -> str:
    """`Invalid or missing fields: email (value is not a valid email address: ...), ...`, the
    fields named as the HTTP API's problem details name them."""
    described = [
        f"{'.'.join(str(part) for part in item['loc'])} ({item['msg']})" for item in error.errors()
    ]
    return f"Invalid or missing fields: {', '.join(described)}."
