"""Fault injection (common/faults.py) in real service processes: each kind does what it says,
observed over HTTP and in the service's own state."""

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from common.faults import CRASH_EXIT_CODE
from services.billing.config import BillingSettings
from services.billing.main import create_app as create_billing
from tests.support.credentials import SERVICE_HEADERS
from tests.support.service_processes import ServiceProcess, service_process


@pytest.fixture(scope="module")
def enrollment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    with service_process("enrollment", tmp_path_factory.mktemp("enrollment")) as running:
        yield running


@pytest.fixture(scope="module")
def billing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    with service_process("billing", tmp_path_factory.mktemp("billing")) as running:
        yield running


@pytest.fixture
def enrollment_http(enrollment: ServiceProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=enrollment.url, headers=SERVICE_HEADERS, timeout=30) as client:
        client.delete("/_faults")
        yield client


@pytest.fixture
def billing_http(billing: ServiceProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=billing.url, headers=SERVICE_HEADERS, timeout=30) as client:
        client.delete("/_faults")
        yield client


def install(client: httpx.Client, **rule: Any) -> dict[str, Any]:
    response = client.post("/_faults", json=rule)
    assert response.status_code == 201, response.text
    installed: dict[str, Any] = response.json()
    return installed


def reserve(client: httpx.Client, student_id: str, key: str, **options: Any) -> httpx.Response:
    return client.post(
        "/enrollments",
        json={"student_id": student_id, "course_id": "CS101"},
        headers={"Idempotency-Key": key},
        **options,
    )


def charge(client: httpx.Client, student_id: str, key: str) -> httpx.Response:
    body = {
        "student_id": student_id,
        "enrollment_id": "enr-1",
        "amount_cents": 120_000,
        "currency": "USD",
        "payment_token": "tok_visa",
    }
    return client.post("/charges", json=body, headers={"Idempotency-Key": key})


def enrollments_of(client: httpx.Client, student_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = client.get(
        "/enrollments", params={"student_id": student_id}
    ).json()
    return found


def charges_of(client: httpx.Client, student_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = client.get("/charges", params={"student_id": student_id}).json()
    return found


def new_id() -> str:
    return f"stu-{uuid.uuid4().hex[:10]}"


def test_without_fault_injection_the_faults_routes_do_not_exist(tmp_path: Path) -> None:
    with TestClient(create_billing(BillingSettings(data_dir=tmp_path))) as client:
        assert client.get("/_faults").status_code == 404
        assert client.post("/_faults", json={"operation": "charge"}).status_code in {404, 405}


def test_an_error_before_commit_answers_503_and_writes_nothing(
    enrollment_http: httpx.Client,
) -> None:
    install(enrollment_http, operation="reserve", kind="error_before_commit", count=1)
    student = new_id()

    failed = reserve(enrollment_http, student, f"{student}:reserve")

    assert failed.status_code == 503
    assert failed.headers["content-type"] == "application/problem+json"
    assert failed.json()["type"].endswith("injected-fault")
    assert enrollments_of(enrollment_http, student) == []
    assert reserve(enrollment_http, student, f"{student}:reserve").status_code == 201
    assert [rule["hits"] for rule in enrollment_http.get("/_faults").json()] == [1]


def test_an_error_after_commit_loses_the_answer_but_the_retry_finds_the_charge(
    billing_http: httpx.Client,
) -> None:
    install(billing_http, operation="charge", kind="error_after_commit", count=1)
    student = new_id()

    lost = charge(billing_http, student, f"{student}:charge")
    [committed] = charges_of(billing_http, student)
    retried = charge(billing_http, student, f"{student}:charge")

    assert lost.status_code == 503
    assert retried.status_code == 201
    assert retried.headers.get("Idempotent-Replayed") == "true"
    assert retried.json()["charge_id"] == committed["charge_id"]
    assert len(charges_of(billing_http, student)) == 1


def test_a_partial_refund_whose_answer_is_lost_is_found_by_its_retry_and_its_reversal(
    billing_http: httpx.Client,
) -> None:
    student = new_id()
    captured = charge(billing_http, student, f"{student}:charge").json()
    install(billing_http, operation="refund_part", kind="error_after_commit", count=1)
    path = f"/charges/{captured['charge_id']}/refunds"
    key = f"{student}:refund_part"

    lost = billing_http.post(path, json={"amount_cents": 500}, headers={"Idempotency-Key": key})
    retried = billing_http.post(path, json={"amount_cents": 500}, headers={"Idempotency-Key": key})
    install(billing_http, operation="reverse_refund", kind="error_before_commit", count=1)
    refused_reversal = billing_http.post(f"/refunds/by-key/{key}/reverse")
    reversal = billing_http.post(f"/refunds/by-key/{key}/reverse")

    assert lost.status_code == 503
    assert (retried.status_code, retried.headers.get("Idempotent-Replayed")) == (201, "true")
    assert refused_reversal.status_code == 503
    assert (reversal.status_code, reversal.json()["status"]) == (200, "REVERSED")
    [after] = charges_of(billing_http, student)
    assert (after["refunded_cents"], len(after["refunds"])) == (0, 1)


def test_an_error_after_commit_can_drop_the_connection_instead(
    billing_http: httpx.Client,
) -> None:
    install(
        billing_http, operation="charge", kind="error_after_commit", count=1, drop_connection=True
    )
    student = new_id()

    with pytest.raises(httpx.RemoteProtocolError):
        charge(billing_http, student, f"{student}:charge")

    [committed] = charges_of(billing_http, student)
    assert committed["status"] == "CAPTURED"


def test_latency_delays_the_command_past_a_short_client_timeout_and_it_still_happens(
    enrollment_http: httpx.Client,
) -> None:
    install(enrollment_http, operation="reserve", kind="latency", latency_ms=2000, count=1)
    student = new_id()

    with pytest.raises(httpx.ReadTimeout):
        reserve(enrollment_http, student, f"{student}:reserve", timeout=0.5)

    for _ in range(300):
        if enrollments_of(enrollment_http, student):
            break
        time.sleep(0.1)
    [enrollment] = enrollments_of(enrollment_http, student)
    assert enrollment["status"] == "PENDING"


def test_a_compensation_by_key_counts_as_the_services_cancel_operation(
    enrollment_http: httpx.Client,
) -> None:
    install(enrollment_http, operation="cancel", kind="error_before_commit", count=1)

    refused = enrollment_http.post("/enrollments/by-key/never-used/cancel")
    revoked = enrollment_http.post("/enrollments/by-key/never-used/cancel")

    assert (refused.status_code, revoked.status_code) == (503, 204)


def test_a_crash_exits_the_process_before_the_command_runs_and_a_restart_forgets_the_rules(
    enrollment: ServiceProcess, enrollment_http: httpx.Client
) -> None:
    install(enrollment_http, operation="reserve", kind="crash")
    student = new_id()

    with pytest.raises(httpx.TransportError):
        reserve(enrollment_http, student, f"{student}:reserve")
    assert enrollment.process is not None
    assert enrollment.process.wait(10)
    assert enrollment.process.exit_code == CRASH_EXIT_CODE

    enrollment.start()
    with httpx.Client(base_url=enrollment.url, headers=SERVICE_HEADERS, timeout=30) as client:
        assert client.get("/_faults").json() == []
        assert enrollments_of(client, student) == []
        assert reserve(client, student, f"{student}:reserve").status_code == 201


def test_rules_are_listed_with_their_hits_and_cleared_by_delete(
    billing_http: httpx.Client,
) -> None:
    rule = install(billing_http, operation="refund", kind="error_before_commit", probability=1.0)
    billing_http.post("/charges/by-key/nothing-here/refund")
    billing_http.post("/charges/by-key/nothing-here/refund")

    [listed] = billing_http.get("/_faults").json()
    assert (listed["rule_id"], listed["hits"]) == (rule["rule_id"], 2)
    other = install(billing_http, operation="charge", kind="latency", latency_ms=5)
    removed = billing_http.delete(f"/_faults/{other['rule_id']}")
    assert (removed.status_code, removed.json()["hits"]) == (200, 0)
    assert billing_http.delete(f"/_faults/{other['rule_id']}").status_code == 404
    assert billing_http.delete("/_faults").status_code == 204
    assert billing_http.get("/_faults").json() == []
    assert billing_http.post("/charges/by-key/nothing-here/refund").status_code == 204


def test_a_rule_for_another_services_command_or_not_as_json_is_refused(
    billing_http: httpx.Client,
) -> None:
    unknown = billing_http.post("/_faults", json={"operation": "reserve", "kind": "crash"})
    not_json = billing_http.post(
        "/_faults", content="operation=charge", headers={"Content-Type": "text/plain"}
    )
    bad_kind = billing_http.post("/_faults", json={"operation": "charge", "kind": "gremlins"})

    assert unknown.status_code == 422
    assert "charge, refund" in unknown.json()["detail"]
    assert not_json.status_code == 415
    assert bad_kind.status_code == 422
    assert bad_kind.headers["content-type"] == "application/problem+json"
