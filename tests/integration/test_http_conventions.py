"""What every HTTP process answers whatever its routes do: bodies over the limit are refused
with 413, a 405 names every allowed method, and an unexpected error discloses nothing of its
cause (no stack trace, no exception, no SQL)."""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import create_engine, text

from common.problems import PROBLEM_JSON
from common.requests import DEFAULT_MAX_BODY_BYTES
from services.billing.config import BillingSettings
from services.billing.main import create_app as create_billing
from services.enrollment.config import EnrollmentSettings
from services.enrollment.main import create_app as create_enrollment
from tests.support.credentials import SERVICE_HEADERS, TEST_SERVICE_TOKEN
from tests.support.servers import serve_in_thread

# Where each service takes a JSON body.
BODY_ROUTES = {"enrollment": "/enrollments", "billing": "/charges"}


def service_app(service: str, data_dir: Path) -> FastAPI:
    if service == "enrollment":
        return create_enrollment(
            EnrollmentSettings(data_dir=data_dir, service_tokens=TEST_SERVICE_TOKEN)
        )
    return create_billing(BillingSettings(data_dir=data_dir, service_tokens=TEST_SERVICE_TOKEN))


@pytest.fixture(params=sorted(BODY_ROUTES))
def service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, httpx.Client]]:
    with (
        serve_in_thread(service_app(request.param, tmp_path)) as url,
        httpx.Client(base_url=url, headers=SERVICE_HEADERS, timeout=30) as client,
    ):
        yield request.param, client


def oversized_json() -> bytes:
    return b'{"padding": "' + b"x" * DEFAULT_MAX_BODY_BYTES + b'"}'


def assert_too_large(response: httpx.Response) -> None:
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM_JSON
    problem = response.json()
    assert problem["type"] == "/problems/content-too-large"
    assert str(DEFAULT_MAX_BODY_BYTES) in problem["detail"]


def test_a_body_declared_too_large_is_refused_with_413(service: tuple[str, httpx.Client]) -> None:
    name, client = service
    response = client.post(
        BODY_ROUTES[name],
        content=oversized_json(),
        headers={"Content-Type": "application/json", "Idempotency-Key": "k-413"},
    )

    assert_too_large(response)


def test_a_streamed_body_is_refused_with_413_once_it_passes_the_limit(
    service: tuple[str, httpx.Client],
) -> None:
    name, client = service

    def chunks() -> Iterator[bytes]:  # no Content-Length: sent chunked
        body = oversized_json()
        for start in range(0, len(body), 8192):
            yield body[start : start + 8192]

    response = client.post(
        BODY_ROUTES[name],
        content=chunks(),
        headers={"Content-Type": "application/json", "Idempotency-Key": "k-413-chunked"},
    )

    assert "content-length" not in response.request.headers
    assert_too_large(response)


def test_a_body_within_the_limit_is_not_refused_for_its_size(
    service: tuple[str, httpx.Client],
) -> None:
    name, client = service
    response = client.post(
        BODY_ROUTES[name],
        content=b'{"padding": "' + b"x" * (DEFAULT_MAX_BODY_BYTES - 100) + b'"}',
        headers={"Content-Type": "application/json", "Idempotency-Key": "k-fits"},
    )

    assert response.status_code == 422  # read and validated: `padding` is no field


def test_a_405_names_every_method_the_path_serves(tmp_path: Path) -> None:
    with serve_in_thread(service_app("enrollment", tmp_path)) as url:
        response = httpx.delete(f"{url}/enrollments", headers=SERVICE_HEADERS)

    assert response.status_code == 405
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.headers["allow"] == "GET, POST"  # two routes, one path


def test_an_unexpected_error_answers_500_without_disclosing_its_cause(tmp_path: Path) -> None:
    with serve_in_thread(service_app("enrollment", tmp_path)) as url:
        # Break the database under the running service: its next query fails unexpectedly.
        engine = create_engine(f"sqlite:///{tmp_path / 'enrollment.db'}")
        with engine.begin() as connection:
            connection.execute(text("DROP TABLE enrollment"))
        engine.dispose()

        response = httpx.get(f"{url}/enrollments")

    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json() == {
        "type": "/problems/internal-error",
        "title": "Internal Server Error",
        "status": 500,
        "detail": "An unexpected error occurred; it has been logged.",
    }
    for leak in ("Traceback", 'File "', "sqlalchemy", "OperationalError", "no such table"):
        assert leak not in response.text
