"""The OpenAPI document every process publishes, made to say what the process really answers.

FastAPI documents errors as `application/json` (and validation errors in its own shape), while
every error here is an RFC 9457 problem (common/problems.py); and it cannot know which errors
any route may answer whatever its own code does (malformed JSON, too large a body, an internal
error). Fuzzing the specs with schemathesis (tests/integration/test_openapi_fuzzing.py) checks
that the document and the answers agree.
"""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from common.problems import PROBLEM_JSON
from common.requests import IDEMPOTENCY_KEY_HEADER, IDEMPOTENCY_KEY_MAX_LENGTH

PROBLEM_SCHEMA = {"$ref": "#/components/schemas/Problem"}
# The keys of an OpenAPI path item that are operations (the others: parameters, summary, ...).
OPERATION_KEYS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}

# What any route may answer besides its own outcomes, with when.
ANY_ROUTE = {"500": "Unexpected error (logged; no details are disclosed)"}
WITH_PARAMETERS = {"422": "Invalid parameters or body"}
WITH_BODY = {
    "400": "Malformed JSON body",
    "413": "Request body too large",
    "415": "Body not sent as application/json",
}


def install_problem_openapi(app: FastAPI) -> None:
    """Make `app.openapi()` document errors as problem+json, including the generic ones."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                openapi_version=app.openapi_version,
                summary=app.summary,
                description=app.description,
                routes=app.routes,
                tags=app.openapi_tags,
                servers=app.servers,
            )
            document_problems(schema)
            require_idempotency_keys(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _operations(schema: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        operation
        for path_item in schema.get("paths", {}).values()
        for method, operation in path_item.items()
        if method in OPERATION_KEYS
    ]


def document_problems(schema: dict[str, Any]) -> None:
    for operation in _operations(schema):
        responses = operation.setdefault("responses", {})
        generic = dict(ANY_ROUTE)
        if operation.get("parameters") or "requestBody" in operation:
            generic |= WITH_PARAMETERS
        if "requestBody" in operation:
            generic |= WITH_BODY
        for status, description in generic.items():
            responses.setdefault(status, {"description": description})
        for status, response in responses.items():
            if status.isdigit() and int(status) >= 400:
                response["content"] = {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}}
                if response.get("description") == "Validation Error":
                    response["description"] = WITH_PARAMETERS["422"]
    # FastAPI's own validation error shapes are never answered: problems replace them.
    components = schema.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)


def require_idempotency_keys(schema: dict[str, Any]) -> None:
    """The Idempotency-Key header is optional for FastAPI, so that its absence is answered by
    our own 400 saying what to send rather than a generic 422; for clients it is required."""
    for operation in _operations(schema):
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "header" and parameter["name"] == IDEMPOTENCY_KEY_HEADER:
                parameter["required"] = True
                parameter["schema"] = {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": IDEMPOTENCY_KEY_MAX_LENGTH,
                    "pattern": r"\S",  # not blank
                    "title": "Idempotency-Key",
                }
