"""Request-level guards shared by every HTTP process: bounded, JSON-only bodies and idempotency
keys."""

import hashlib
import json
from typing import Annotated

from fastapi import Depends, Header, Path, Query, Request
from pydantic import BaseModel
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.ids import STUDENT_ID_MAX_LENGTH
from common.problems import ProblemError, ProblemSpec, problem_response

# The largest body these APIs take is well under 1 KiB; a larger one is a mistake or an attack.
DEFAULT_MAX_BODY_BYTES = 64 * 1024
IDEMPOTENCY_KEY_HEADER = "idempotency-key"
IDEMPOTENCY_KEY_MAX_LENGTH = 255
# PostgreSQL text cannot hold NUL characters: ids with one are invalid input (422), not a 500.
WITHOUT_NUL = r"^[^\x00]*$"

# Ids in paths and queries are bounded like the columns they are looked up in (422, not a 500).
KeyInPath = Annotated[str, Path(max_length=IDEMPOTENCY_KEY_MAX_LENGTH, pattern=WITHOUT_NUL)]
KeyPrefixFilter = Annotated[
    str | None, Query(max_length=IDEMPOTENCY_KEY_MAX_LENGTH, pattern=WITHOUT_NUL)
]
StudentFilter = Annotated[str | None, Query(max_length=STUDENT_ID_MAX_LENGTH, pattern=WITHOUT_NUL)]


def is_json_media_type(content_type: str) -> bool:
    """application/json or application/*+json, parameters ignored: what the HTTP APIs and the
    event intake accept as JSON."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == "application/json":
        return True
    main_type, _, subtype = media_type.partition("/")
    return main_type == "application" and subtype.endswith("+json")


async def require_json_body(request: Request) -> None:
    """415 unless the body is declared as JSON; FastAPI alone would answer 422 here."""
    content_type = request.headers.get("content-type", "")
    if not is_json_media_type(content_type):
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


def answer_replay(response: Response, created: bool) -> None:
    """An idempotent create's answer says when it replays the first request's resource."""
    if not created:
        response.headers["Idempotent-Replayed"] = "true"


def _too_large(max_bytes: int) -> str:
    return f"The request body is limited to {max_bytes} bytes."


class BodySizeLimit:
    """413 problem+json for a body over `max_bytes`: at once when Content-Length says so, else
    as soon as the bytes received pass the limit (the body is never buffered whole)."""

    def __init__(self, app: ASGIApp, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            spec = ProblemSpec(413, "content-too-large", "Content Too Large")
            await problem_response(spec, _too_large(self.max_bytes))(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # An HTTPException: FastAPI's body parsing passes these through untouched
                    # to the problem handlers.
                    raise HTTPException(413, _too_large(self.max_bytes))
            return message

        await self.app(scope, limited, send)
