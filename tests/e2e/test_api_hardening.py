"""The orchestrator API on real parts: its OpenAPI spec holds under fuzzing (see
tests/support/fuzzing.py) and its bodies are bounded."""

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from common.requests import DEFAULT_MAX_BODY_BYTES
from orchestrator.api.app import create_app as create_api
from orchestrator.worker.main import saga_worker
from tests.e2e.conftest import System, new_student
from tests.support.credentials import API_HEADERS
from tests.support.fuzzing import fuzz
from tests.support.servers import serve_in_thread
from tests.support.stack import (
    orchestrator_settings,
    running_services,
    start_dev_server,
    worker_settings,
)


@pytest.fixture(scope="module")
async def api_of_its_own(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """A whole system of its own (dev server, services, worker, API): fuzzed bulk retries
    retry every compensated saga on their server, which must not be the other tests'."""
    async with await start_dev_server() as env:
        with running_services(tmp_path_factory.mktemp("fuzzed")) as services:
            settings = orchestrator_settings(env, services)
            async with saga_worker(env.client, worker_settings(settings)):
                with serve_in_thread(create_api(settings)) as url:
                    yield url


async def test_the_api_answers_every_fuzzed_request_as_its_spec_says(api_of_its_own: str) -> None:
    # In a thread: the saga worker runs on this event loop and must keep polling meanwhile.
    run = await asyncio.to_thread(fuzz, api_of_its_own, headers=API_HEADERS)

    print(run.report())  # the case counts recorded in docs/reliability.md
    assert run.exit_code == 0, run.report()
    tested, total = run.operations_tested
    assert tested == total > 0
    assert run.cases > 0


async def test_an_oversized_student_is_refused_with_413_and_starts_no_saga(system: System) -> None:
    student = new_student() | {"name": "x" * DEFAULT_MAX_BODY_BYTES}

    response = await system.api.post("/students", json=student)

    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert (await system.api.get(f"/sagas/{student['student_id']}")).status_code == 404


async def test_choreography_asked_of_an_api_without_a_broker_is_refused_as_unprocessable(
    api_of_its_own: str,
) -> None:
    async with httpx.AsyncClient(base_url=api_of_its_own, headers=API_HEADERS) as api:
        response = await api.post("/students", json=new_student() | {"mode": "choreography"})

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/choreography-unavailable")
    assert "BROKER_URL" in response.json()["detail"]
