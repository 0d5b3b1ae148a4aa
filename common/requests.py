"""Request-level guards shared by every HTTP process: JSON-only bodies and idempotency keys."""

import hashlib
import json
from typing import Annotated

from fastapi import Depends, Header, Request
from pydantic import BaseModel

from common.problems import ProblemError

IDEMPOTENCY_KEY_MAX_LENGTH = 255
# PostgreSQL text cannot hold NUL characters: ids with one are invalid input (422), not a 500.
WITHOUT_NUL = r"^[^\x00]*$"


def _is_json_media_type(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == "application/json":
        return True
    main_type, _, subtype = media_type.partition("/")
    return main_type == "application" and subtype.endswith("+json")


async def require_json_body(request: Request) -> None:
    """415 unless the body is declared as JSON; FastAPI alone would answer 422 here."""
    content_type = request.headers.get("content-type", "")
    if not _is_json_media_type(content_type):
        shown = content_type or "none"
        raise ProblemError(
            415,
            "unsupported-media-type",
            "Unsupported Media Type",
            f"Send the body as JSON with 'Content-Type: application/json' (got {shown}).",
        )


JsonBody = Depends(require_json_body)


async def require_json_body_if_any(request: Request) -> None:
    """For an optional body: a request without one passes, one with a body must declare JSON."""
    has_body = request.headers.get("content-length", "0") != "0"
    if has_body or "transfer-encoding" in request.headers:
        await require_json_body(request)


OptionalJsonBody = Depends(require_json_body_if_any)


async def require_idempotency_key(
    idempotency_key: Annotated[
        str | None,
        Header(
            description="Client-chosen unique key; retries with the same key and body replay "
            "the first answer.",
        ),
    ] = None,
) -> str:
    if idempotency_key is None or not idempotency_key.strip():
        raise ProblemError(
            400,
            "idempotency-key-missing",
            "Idempotency-Key header required",
            "Send an 'Idempotency-Key' header so the request can be retried safely.",
        )
    if len(idempotency_key) > IDEMPOTENCY_KEY_MAX_LENGTH:
        raise ProblemError(
            400,
            "idempotency-key-invalid",
            "Idempotency-Key header too long",
            f"The 'Idempotency-Key' header is limited to {IDEMPOTENCY_KEY_MAX_LENGTH} characters.",
        )
    return idempotency_key


IdempotencyKey = Annotated[str, Depends(require_idempotency_key)]


def request_fingerprint(body: BaseModel) -> str:
    """A stable hash of a validated request body, to tell a replay from a reused key."""
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
