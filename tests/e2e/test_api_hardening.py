"""The orchestrator API on the whole running system (sagas really start on Temporal): its
OpenAPI spec holds under fuzzing (see tests/support/fuzzing.py) and its bodies are bounded."""

import asyncio

from common.requests import DEFAULT_MAX_BODY_BYTES
from tests.e2e.conftest import System, new_student
from tests.support.fuzzing import fuzz


async def test_the_api_answers_every_fuzzed_request_as_its_spec_says(system: System) -> None:
    # In a thread: the saga worker runs on this event loop and must keep polling meanwhile.
    run = await asyncio.to_thread(fuzz, str(system.api.base_url).rstrip("/"))

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
