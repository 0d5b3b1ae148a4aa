"""The services over real HTTP: every write needs a service token (SERVICE_TOKENS), reads are
open, the fault-injection routes are not; refusals are 401 problem+json with a Bearer
challenge, and come before anything else (a fault, a body, a write)."""

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from common.problems import PROBLEM_JSON
from services.enrollment.config import EnrollmentSettings
from services.enrollment.main import create_app
from tests.support.credentials import SERVICE_HEADERS, TEST_SERVICE_TOKEN
from tests.support.servers import serve_in_thread

NEW_TOKEN = "rotated-service-token-8d3f1b6a9c2e5f7a"


@pytest.fixture
def enrollment_url(tmp_path: Path) -> Iterator[str]:
    settings = EnrollmentSettings(
        data_dir=tmp_path, service_tokens=f"{TEST_SERVICE_TOKEN},{NEW_TOKEN}", fault_injection=True
    )
    with serve_in_thread(create_app(settings)) as url:
        yield url


def reserve(url: str, student_id: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(
        f"{url}/enrollments",
        json={"student_id": student_id, "course_id": "CS101"},
        headers={"Idempotency-Key": f"{student_id}:reserve", **headers},
        timeout=30,
    )


def enrollments_of(url: str, student_id: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{url}/enrollments", params={"student_id": student_id}, timeout=30)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": f"Basic {TEST_SERVICE_TOKEN}"}, {"Authorization": "Bearer"}],
    ids=["no header", "not bearer", "no token"],
)
def test_a_write_without_a_token_is_401_problem_with_a_bearer_challenge_and_writes_nothing(
    enrollment_url: str, headers: dict[str, str]
) -> None:
    response = reserve(enrollment_url, "stu-anonymous", headers)

    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.headers["www-authenticate"].startswith("Bearer ")
    assert response.json()["type"] == "/problems/unauthenticated"
    assert enrollments_of(enrollment_url, "stu-anonymous") == []


def test_a_write_with_a_wrong_token_is_401_invalid_token(enrollment_url: str) -> None:
    response = reserve(enrollment_url, "stu-wrong", {"Authorization": "Bearer not-the-token"})

    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert enrollments_of(enrollment_url, "stu-wrong") == []


def test_every_token_listed_is_accepted_so_tokens_can_be_rotated(enrollment_url: str) -> None:
    old = reserve(enrollment_url, "stu-old", SERVICE_HEADERS)
    new = reserve(enrollment_url, "stu-new", {"Authorization": f"Bearer {NEW_TOKEN}"})

    assert (old.status_code, new.status_code) == (201, 201)


def test_reads_and_health_need_no_token(enrollment_url: str) -> None:
    for path in ("/courses", "/enrollments", "/healthz", "/readyz", "/openapi.json", "/docs"):
        assert httpx.get(f"{enrollment_url}{path}", timeout=30).status_code == 200, path


def test_the_fault_routes_need_the_token_even_to_read(enrollment_url: str) -> None:
    assert httpx.get(f"{enrollment_url}/_faults", timeout=30).status_code == 401
    listed = httpx.get(f"{enrollment_url}/_faults", headers=SERVICE_HEADERS, timeout=30)
    assert listed.status_code == 200


def test_a_request_without_a_token_never_reaches_an_armed_fault(enrollment_url: str) -> None:
    rule = {"operation": "reserve", "kind": "error_before_commit", "count": 1}
    armed = httpx.post(f"{enrollment_url}/_faults", json=rule, headers=SERVICE_HEADERS, timeout=30)
    assert armed.status_code == 201, armed.text

    refused = reserve(enrollment_url, "stu-anonymous", {})
    rules = httpx.get(f"{enrollment_url}/_faults", headers=SERVICE_HEADERS, timeout=30).json()

    assert refused.status_code == 401
    assert [rule["hits"] for rule in rules] == [0]


def test_the_spec_declares_the_bearer_scheme_on_writes_and_fault_routes_only(
    enrollment_url: str,
) -> None:
    spec = httpx.get(f"{enrollment_url}/openapi.json", timeout=30).json()

    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    paths = spec["paths"]
    assert paths["/enrollments"]["post"]["security"] == [{"bearerAuth": []}]
    assert "401" in paths["/enrollments"]["post"]["responses"]
    assert "security" not in paths["/enrollments"]["get"]
    assert paths["/_faults"]["get"]["security"] == [{"bearerAuth": []}]
    assert "security" not in paths["/healthz"]["get"]


def test_without_tokens_in_development_writes_are_open(tmp_path: Path) -> None:
    settings = EnrollmentSettings(data_dir=tmp_path, service_tokens=None)
    with serve_in_thread(create_app(settings)) as url:
        response = reserve(url, "stu-open", {})
        spec = httpx.get(f"{url}/openapi.json", timeout=30).json()

    assert response.status_code == 201
    assert "securitySchemes" not in spec.get("components", {})


def test_in_production_a_service_without_tokens_refuses_to_start(tmp_path: Path) -> None:
    environment = {"PATH": os.environ["PATH"], "ENVIRONMENT": "production", "PORT": "0"}
    environment["DATA_DIR"] = str(tmp_path)

    result = subprocess.run(
        [sys.executable, "-m", "services.enrollment"],
        env=environment,
        cwd=tmp_path,  # no .env here
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    assert "SERVICE_TOKENS is required" in result.stderr
