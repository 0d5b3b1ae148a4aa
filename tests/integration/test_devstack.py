"""The dev stack (`make up`) as real processes on free ports: sagas over HTTP, then a clean stop."""

import asyncio
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads, WorkflowExecution
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryRequest
from temporalio.client import Client

from common.auth import bearer_headers
from devstack.config import DevstackSettings
from devstack.stack import Stack, port_is_free
from workflows.contracts import TERMINAL_STATUSES, SagaState, SagaStatus, Step, workflow_id_for

SAGA_TIMEOUT_SECONDS = 60


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    settings = DevstackSettings.on_free_ports(
        host="127.0.0.1",
        data_dir=tmp_path / "data",
        enrollment_database_url=None,
        billing_database_url=None,
    )
    with Stack(settings) as running:
        yield running


def start_saga(api: httpx.Client, payment_token: str, mode: str = "orchestration") -> str:
    student_id = f"stu-{uuid.uuid4().hex[:10]}"
    response = api.post(
        "/students",
        json={
            "student_id": student_id,
            "name": "Ada Lovelace",
            "email": "ada@example.com",
            "course_id": "CS101",
            "payment_token": payment_token,
            "mode": mode,
        },
    )
    assert response.status_code == 202, response.text
    return student_id


def final_state(api: httpx.Client, student_id: str) -> SagaState:
    deadline = time.monotonic() + SAGA_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        response = api.get(f"/sagas/{student_id}")
        if response.status_code == 200:
            state = SagaState.model_validate(response.json())
            if state.status in TERMINAL_STATUSES:
                return state
        time.sleep(0.2)
    raise AssertionError(f"the saga of {student_id} did not finish in {SAGA_TIMEOUT_SECONDS}s")


async def raw_saga_input(settings: DevstackSettings, student_id: str) -> Payloads:
    """The saga's input as the server stores it, fetched without any data converter."""
    client = await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace)
    history = await client.workflow_service.get_workflow_execution_history(
        GetWorkflowExecutionHistoryRequest(
            namespace=settings.temporal_namespace,
            execution=WorkflowExecution(workflow_id=workflow_id_for(student_id)),
        )
    )
    return history.history.events[0].workflow_execution_started_event_attributes.input


def decoded_by_the_ui_codec_endpoint(settings: DevstackSettings, payloads: Payloads) -> str:
    """Decode as the Web UI does: from its origin, at the codec endpoint it was started with."""
    ui_settings = httpx.get(f"{settings.temporal_ui_url}/api/v1/settings", timeout=10).json()
    endpoint = ui_settings["Codec"]["Endpoint"]
    response = httpx.post(
        f"{endpoint}/decode",
        json=json_format.MessageToDict(payloads),
        headers={"Origin": settings.temporal_ui_url, "X-Namespace": settings.temporal_namespace},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == settings.temporal_ui_url
    decoded = json_format.ParseDict(response.json(), Payloads())
    return b"".join(payload.data for payload in decoded.payloads).decode()


def process_group_exists(group_id: int) -> bool:
    try:
        os.killpg(group_id, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_stack_completes_a_paid_saga_compensates_a_declined_one_and_stops_cleanly(
    stack: Stack,
) -> None:
    settings = stack.settings
    # The stack's API wants the key `make up` generates; the stack is given it.
    assert httpx.get(f"{settings.local_api_url}/sagas", timeout=10).status_code == 401
    api_key = bearer_headers(stack.secrets["SAGA_API_KEY"])
    with httpx.Client(base_url=settings.local_api_url, headers=api_key, timeout=10) as api:
        paid = start_saga(api, "tok_visa")
        declined = start_saga(api, "tok_declined")
        choreographed = start_saga(api, "tok_visa", mode="choreography")

        paid_state = final_state(api, paid)
        declined_state = final_state(api, declined)
        choreographed_state = final_state(api, choreographed)

    assert paid_state.status == SagaStatus.COMPLETED
    assert declined_state.status == SagaStatus.COMPENSATED
    assert declined_state.failed_step == Step.CHARGE_TUITION
    assert choreographed_state.status == SagaStatus.COMPLETED
    assert (stack.data_dir / "temporal.db").exists()
    assert (stack.data_dir / "nats").is_dir()

    # Personal data is sealed in Temporal, and the Web UI's codec endpoint opens it.
    stored = asyncio.run(raw_saga_input(settings, paid))
    assert b"ada@example.com" not in stored.SerializeToString()
    assert "ada@example.com" in decoded_by_the_ui_codec_endpoint(settings, stored)

    # The worker serves Prometheus metrics: the SDK's own and the sagas' outcomes.
    metrics = httpx.get(settings.worker_metrics_url, timeout=10).text
    assert "temporal_workflow_completed" in metrics
    assert any(
        line.startswith("saga_outcomes")
        and 'outcome="compensated"' in line
        and 'failed_step="charge_tuition"' in line
        for line in metrics.splitlines()
    )

    # Each child leads its own process group, so an empty group means nothing is left behind.
    groups = {process.name: process.pid for process in stack.processes}
    assert set(groups) == {"temporal", "codec", "nats", "enrollment", "billing", "worker", "api"}
    stack.stop()

    assert [name for name, group in groups.items() if process_group_exists(group)] == []
    assert all(port_is_free(settings.host, port) for port in settings.ports().values())
