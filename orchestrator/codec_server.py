"""The codec server: lets the Temporal Web UI and CLI show sealed payloads decoded.

It speaks Temporal's codec server protocol: `POST .../decode` and `POST .../encode` take and
return a `Payloads` message as protobuf JSON, and only the last path segment names the
operation. Every call needs the token, given either as `Authorization: Bearer <token>` (the
CLI's `--codec-auth`) or as the path segment before the operation, `/<token>/decode`: the Web
UI's codec endpoint setting is a plain URL and sends no header of its own unless it runs with
single sign-on. Browsers may call it only from the Temporal UI's origin (CORS).

    python -m orchestrator.codec_server        # CODEC_SERVER_TOKEN, PAYLOAD_KEYS, PORT=8081
    temporal server start-dev --ui-codec-endpoint http://127.0.0.1:8081/<token>
    temporal workflow show -w ID --codec-endpoint http://127.0.0.1:8081 --codec-auth "Bearer …"
"""

import secrets
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from google.protobuf import json_format
from pydantic import BaseModel
from temporalio.api.common.v1 import Payloads

from common.conventions import install_http_conventions
from common.health import health_router
from common.logs import configure_logging
from common.payload_keys import PayloadKeyError
from common.problems import ProblemError, ProblemMap, ProblemSpec, problem_responses
from common.requests import JsonBody
from common.serving import serve
from common.settings import ObservabilitySettings
from orchestrator.codec import EncryptionCodec
from orchestrator.config import CodecServerSettings
from orchestrator.process_exit import run_and_exit

# The UI decodes a history's payloads in batches; Temporal's own limit is 2 MiB per payload.
MAX_BODY_BYTES = 8 * 1024 * 1024

PROBLEMS: ProblemMap = {
    PayloadKeyError: ProblemSpec(400, "payload-not-decodable", "Payload cannot be decoded"),
}


class PayloadJson(BaseModel):
    """One `temporal.api.common.v1.Payload` in protobuf JSON: bytes as base64."""

    metadata: dict[str, str] = {}
    data: str = ""


class PayloadsJson(BaseModel):
    payloads: list[PayloadJson] = []  # bounded by MAX_BODY_BYTES


def _to_message(body: PayloadsJson) -> Payloads:
    try:
        return json_format.ParseDict(body.model_dump(), Payloads())
    except json_format.ParseError as error:
        raise ProblemError(
            400, "malformed-payloads", "Malformed payloads", f"Not a Payloads message: {error}"
        ) from error


def _to_json(message: Payloads) -> PayloadsJson:
    return PayloadsJson.model_validate(json_format.MessageToDict(message))


def _require_token(expected: str) -> Any:
    async def check(request: Request) -> None:
        given = request.path_params.get("token")
        if given is None:
            scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
            given = credentials.strip() if scheme.lower() == "bearer" else None
        if given is None or not secrets.compare_digest(given.encode(), expected.encode()):
            raise ProblemError(
                401,
                "unauthenticated",
                "Unauthorized",
                "Send the codec server's token as 'Authorization: Bearer <token>' "
                "or call /<token>/decode.",
            )

    return Depends(check)


def codec_router(codec: EncryptionCodec, token: str) -> APIRouter:
    router = APIRouter(
        tags=["codec"],
        dependencies=[_require_token(token), JsonBody],
        responses=problem_responses(400, 401),
    )

    async def decode(body: PayloadsJson) -> PayloadsJson:
        """Open sealed payloads (plaintext ones are returned as they are)."""
        message = _to_message(body)
        return _to_json(Payloads(payloads=await codec.decode(message.payloads)))

    async def encode(body: PayloadsJson) -> PayloadsJson:
        """Seal payloads with the current key."""
        message = _to_message(body)
        return _to_json(Payloads(payloads=await codec.encode(message.payloads)))

    for path, documented in (("", True), ("/{token}", False)):  # a token is not documented
        for name, operation in (("decode", decode), ("encode", encode)):
            router.add_api_route(
                f"{path}/{name}", operation, methods=["POST"], include_in_schema=documented
            )
    return router


def create_app(settings: CodecServerSettings | None = None) -> FastAPI:
    settings = settings or CodecServerSettings()  # type: ignore[call-arg]  # from the env
    keys = settings.parsed_payload_keys()
    assert keys is not None  # CodecServerSettings refuses to exist without them

    async def ready() -> None:
        return None

    app = FastAPI(
        title="Payload codec server",
        version="0.1.0",
        description="Temporal's codec server protocol over the saga's payload encryption.",
    )
    install_http_conventions(app, PROBLEMS, max_body_bytes=MAX_BODY_BYTES)
    # Added last, so outermost: even a 401 or a 413 carries the CORS headers, and the UI can
    # show the error instead of an opaque network failure.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=[settings.ui_origin()],
        allow_methods=["POST"],
        allow_headers=["authorization", "content-type", "x-namespace"],
        allow_credentials=True,
    )
    app.include_router(health_router(ready))
    token = settings.codec_server_token.get_secret_value()
    app.include_router(codec_router(EncryptionCodec(keys), token))
    return app


def main() -> None:
    settings = CodecServerSettings()  # type: ignore[call-arg]  # from the env
    configure_logging(ObservabilitySettings())
    # No access log: it would write the token of every /<token>/decode call into the logs.
    serve(create_app(settings), settings.host, settings.port, access_log=False)


if __name__ == "__main__":
    run_and_exit(main)
