"""The HTTP conventions every process follows, installed in one call by each app factory:
errors as problem+json (common/problems.py) and documented so (common/openapi.py), and bounded
request bodies (common/requests.py)."""

from fastapi import FastAPI

from common.openapi import install_problem_openapi
from common.problems import ProblemMap, install_problem_handlers
from common.requests import DEFAULT_MAX_BODY_BYTES, BodySizeLimit


def install_http_conventions(
    app: FastAPI, problems: ProblemMap, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
) -> None:
    install_problem_handlers(app, problems)
    install_problem_openapi(app)
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)
