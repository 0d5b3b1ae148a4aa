"""RFC 9457 problem details: the one error format every HTTP process in the system answers with.

Each process declares which of its own exception types map to which status and problem type
(`ProblemMap`); this module turns those, FastAPI's validation errors and anything unexpected into
`application/problem+json` responses. Unexpected errors never leak a stack trace.
"""

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPE_BASE = "/problems/"

# The methods a route may serve, in the order an `Allow` header lists them.
ALLOWED_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")

log = logging.getLogger(__name__)


class Problem(BaseModel):
    """The body of every error response (RFC 9457)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    errors: list[dict[str, Any]] | None = None


@dataclass(frozen=True)
class ProblemSpec:
    status: int
    slug: str
    title: str


ProblemMap = Mapping[type[Exception], ProblemSpec]


class ProblemError(Exception):
    """An HTTP-level refusal raised by adapters (bad header, wrong media type)."""

    def __init__(self, status: int, slug: str, title: str, detail: str) -> None:
        super().__init__(detail)
        self.spec = ProblemSpec(status, slug, title)
        self.detail = detail


def problem_response(
    spec: ProblemSpec,
    detail: str | None,
    errors: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    problem = Problem(
        type=PROBLEM_TYPE_BASE + spec.slug,
        title=spec.title,
        status=spec.status,
        detail=detail,
        errors=errors,
    )
    return JSONResponse(
        problem.model_dump(exclude_none=True),
        status_code=spec.status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries documenting problem+json answers for the given statuses."""
    return {
        status: {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": "Problem details"}
        for status in statuses
    }


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {"field": ".".join(str(part) for part in error["loc"]), "message": error["msg"]}
        for error in exc.errors()
    ]


def install_problem_handlers(app: FastAPI, problems: ProblemMap) -> None:
    """Route every error raised while serving a request to a problem+json response."""

    async def on_domain_error(_: Request, exc: Exception) -> JSONResponse:
        return problem_response(problems[type(exc)], str(exc))

    for exception_type in problems:
        app.add_exception_handler(exception_type, on_domain_error)

    async def on_problem(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ProblemError)
        return problem_response(exc.spec, exc.detail)

    async def on_validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = _validation_errors(exc)
        if any(error.get("type") == "json_invalid" for error in exc.errors()):
            spec = ProblemSpec(400, "malformed-json", "Malformed JSON")
            return problem_response(spec, "The request body is not valid JSON.", errors)
        fields = ", ".join(error["field"] for error in errors)
        spec = ProblemSpec(422, "validation-error", "Invalid request")
        return problem_response(spec, f"Invalid or missing fields: {fields}", errors)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 405:
            exc.headers = {"Allow": _allowed_methods(app, request)}
        slugs = {404: "not-found", 405: "method-not-allowed", 413: "content-too-large"}
        slug = slugs.get(exc.status_code, "http-error")
        spec = ProblemSpec(exc.status_code, slug, _reason(exc.status_code))
        # Keep the exception's headers: a 405 must say which methods are allowed (Allow).
        return problem_response(spec, str(exc.detail), headers=exc.headers)

    async def on_unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        spec = ProblemSpec(500, "internal-error", "Internal Server Error")
        return problem_response(spec, "An unexpected error occurred; it has been logged.")

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)


def _allowed_methods(app: FastAPI, request: Request) -> str:
    """The methods of the resource at this path, as the OpenAPI document describes it: Starlette
    names only the first route that matches the path, while GET and POST on one path are often
    two routes. Where a concrete path and a templated one both match (`/sagas/retry`,
    `/sagas/{student_id}`), the concrete one is the resource, as OpenAPI matches paths."""
    path = request.url.path
    matching = [
        (template.count("{"), operations)
        for template, operations in app.openapi().get("paths", {}).items()
        if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", template), path)
    ]
    if matching:
        _, operations = min(matching, key=lambda candidate: candidate[0])
        return ", ".join(method for method in ALLOWED_METHODS if method.lower() in operations)
    # An undocumented route: every method some route serves here.
    return ", ".join(
        method
        for method in ALLOWED_METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL
            for route in app.router.routes
        )
    )


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
