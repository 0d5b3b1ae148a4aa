"""The HTTP metrics a service serves at /metrics, scraped over real HTTP after real requests."""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from services.enrollment.config import EnrollmentSettings
from services.enrollment.main import create_app
from tests.support.servers import serve_in_thread


@pytest.fixture
def enrollment(tmp_path: Path) -> Iterator[httpx.Client]:
    settings = EnrollmentSettings(database_url=f"sqlite:///{tmp_path / 'enrollment.db'}")
    with serve_in_thread(create_app(settings)) as url, httpx.Client(base_url=url) as client:
        yield client


def _requests(client: httpx.Client) -> dict[tuple[str, str, str], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.labels["method"], sample.labels["route"], sample.labels["status"]): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if sample.name == "http_requests_total"
    }


def test_requests_are_counted_by_route_template_and_status_never_by_path(
    enrollment: httpx.Client,
) -> None:
    for course_id in ("CS101", "MATH201", "NO-SUCH-COURSE"):
        enrollment.get(f"/courses/{course_id}")
    enrollment.get("/no/such/path")
    body = {"student_id": "stu-1", "course_id": "CS101"}
    enrollment.post("/enrollments", json=body, headers={"Idempotency-Key": "key-1"})

    counted = _requests(enrollment)

    assert counted[("GET", "/courses/{course_id}", "200")] == 2
    assert counted[("GET", "/courses/{course_id}", "404")] == 1
    assert counted[("GET", "unmatched", "404")] == 1
    assert counted[("POST", "/enrollments", "201")] == 1
    assert not [route for _, route, _ in counted if "CS101" in route or "stu-1" in route]


def test_request_durations_are_observed_per_route(enrollment: httpx.Client) -> None:
    enrollment.get("/courses")
    enrollment.get("/courses")

    text = enrollment.get("/metrics").text
    counts = [
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "http_request_duration_seconds_count"
        and sample.labels == {"method": "GET", "route": "/courses"}
    ]

    assert counts == [2]
