"""Shared HTTP conventions: which media types count as a JSON body, and request fingerprints."""

import pytest
from pydantic import BaseModel
from starlette.requests import Request

from common.problems import ProblemError
from common.requests import is_json_media_type, request_fingerprint, require_json_body


class ReserveBody(BaseModel):
    student_id: str
    course_id: str


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/json;charset=UTF-8",
        "Application/JSON",
        "  application/json  ",
        "application/problem+json",
        "application/merge-patch+json",
        "application/vnd.api+json; charset=utf-8",
    ],
)
def test_json_and_structured_json_media_types_are_accepted(content_type: str) -> None:
    assert is_json_media_type(content_type)


@pytest.mark.parametrize(
    "content_type",
    [
        "",
        "text/plain",
        "text/plain; charset=utf-8",
        "text/json",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=xyz",
        "application/xml",
        "application/jsonp",
        "application/json-seq",
        "image/svg+json",
        "json",
        "+json",
    ],
)
def test_other_or_missing_media_types_are_refused(content_type: str) -> None:
    assert not is_json_media_type(content_type)


def _request_with(content_type: str | None) -> Request:
    headers = [] if content_type is None else [(b"content-type", content_type.encode())]
    return Request({"type": "http", "method": "POST", "path": "/", "headers": headers})


async def test_a_json_body_passes_the_guard() -> None:
    await require_json_body(_request_with("application/json; charset=utf-8"))


@pytest.mark.parametrize(
    ("content_type", "shown"),
    [("text/plain", "text/plain"), ("application/x-www-form-urlencoded", "form"), (None, "none")],
)
async def test_a_body_not_declared_as_json_is_refused_with_415(
    content_type: str | None, shown: str
) -> None:
    with pytest.raises(ProblemError) as refusal:
        await require_json_body(_request_with(content_type))

    assert refusal.value.spec.status == 415
    assert refusal.value.spec.slug == "unsupported-media-type"
    assert "application/json" in refusal.value.detail
    assert shown in refusal.value.detail


def test_equal_bodies_have_the_same_fingerprint() -> None:
    first = ReserveBody(student_id="s-1", course_id="CS101")
    second = ReserveBody(course_id="CS101", student_id="s-1")

    assert request_fingerprint(first) == request_fingerprint(second)


def test_a_fingerprint_is_a_sha256_hex_digest() -> None:
    fingerprint = request_fingerprint(ReserveBody(student_id="s-1", course_id="CS101"))

    assert len(fingerprint) == 64
    assert set(fingerprint) <= set("0123456789abcdef")


@pytest.mark.parametrize(
    "other",
    [
        ReserveBody(student_id="s-2", course_id="CS101"),
        ReserveBody(student_id="s-1", course_id="SEM1"),
        ReserveBody(student_id="CS101", course_id="s-1"),
    ],
)
def test_different_bodies_have_different_fingerprints(other: ReserveBody) -> None:
    original = ReserveBody(student_id="s-1", course_id="CS101")

    assert request_fingerprint(original) != request_fingerprint(other)


def test_a_fingerprint_does_not_depend_on_non_ascii_text_encoding() -> None:
    body = ReserveBody(student_id="Zoë 学生", course_id="CS101")

    assert request_fingerprint(body) == request_fingerprint(
        ReserveBody.model_validate_json(body.model_dump_json())
    )
