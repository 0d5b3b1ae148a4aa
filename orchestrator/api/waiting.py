"""The synchronous answer of `POST /students`: `Prefer: wait=N` (RFC 7240).

A client that would rather wait than poll sends `Prefer: wait=N`; the API then waits up to N
seconds (at most MAX_WAIT_SECONDS) for the saga to end (an orchestrated saga's workflow result,
or a choreographed saga's end as the tracker records it) and answers 200 with its terminal state
and `Preference-Applied: wait=N`, or, when it has not ended by then, the usual 202. As the RFC
says, a preference the server does not understand, or a malformed one, is ignored: the answer
is then what it would have been without the header.
"""

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi.responses import JSONResponse
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle

from choreography import sagas as choreographed
from choreography.runtime import Choreography
from sagas import TERMINAL_STATUSES, SagaProgress
from workflows import registry

MAX_WAIT_SECONDS = 30
# preference = token [ BWS "=" BWS word ] *( OWS ";" [ OWS parameter ] ); wait's word is
# delta-seconds (1*DIGIT).
_WAIT = re.compile(r'^wait\s*=\s*(?:"(\d+)"|(\d+))$', re.IGNORECASE)


def requested_wait(prefer_headers: list[str] | None) -> int | None:
    """Seconds to wait, from every `Prefer` header of a request; None without a valid `wait`.
    The first `wait` counts (RFC 7240, section 2: a repeated preference is the first one)."""
    for header in prefer_headers or []:
        for preference in header.split(","):
            name_and_value = preference.split(";", 1)[0].strip()
            if name_and_value.split("=", 1)[0].strip().lower() != "wait":
                continue
            match = _WAIT.match(name_and_value)
            if match is None:
                return None  # a malformed wait is ignored, not replaced by a later one
            return min(int(match.group(1) or match.group(2)), MAX_WAIT_SECONDS)
    return None


EndWithin = Callable[[int], Awaitable[SagaProgress | None]]


async def waited_answer(
    prefer_headers: list[str] | None, status_url: str, end_within: EndWithin
) -> JSONResponse | None:
    """With a valid `wait`, the 200 answer if the saga ends in time (`end_within(seconds)`, in
    either mode); None otherwise, and the route answers as without the header."""
    seconds = requested_wait(prefer_headers)
    if seconds is None:
        return None
    ended = await end_within(seconds)
    return None if ended is None else ended_response(ended, seconds, status_url)


def ended_response(state: SagaProgress, seconds: int, status_url: str) -> JSONResponse:
    """200 with the terminal state (the body of `GET /sagas/{saga_id}`)."""
    return JSONResponse(
        state.model_dump(mode="json"),
        status_code=200,
        headers={"Location": status_url, "Preference-Applied": f"wait={seconds}"},
    )


async def saga_end_within(client: Client, saga_id: str, seconds: int) -> SagaProgress | None:
    """The saga's terminal state if it ends within `seconds`; None if it runs on, or ended
    without one (cancelled or terminated by an operator: the status route tells which)."""
    saga_type = registry.for_saga_id(saga_id)
    handle: WorkflowHandle[Any, SagaProgress] = client.get_workflow_handle(
        saga_type.workflow_id(saga_id), result_type=saga_type.state_type
    )
    try:
        return await asyncio.wait_for(handle.result(), timeout=seconds)
    except (TimeoutError, WorkflowFailureError):
        return None


async def choreographed_end_within(
    choreography: Choreography, student_id: str, seconds: int
) -> SagaProgress | None:
    """The choreographed saga's terminal state if the tracker sees it end within `seconds`; the
    tracker's consumer wakes the wait (choreography/ends.py) instead of the request polling."""

    def read_end() -> SagaProgress | None:
        state = choreographed.saga_state(choreography.engine, student_id)
        return state if state is not None and state.status in TERMINAL_STATUSES else None

    return await choreography.ends.end_within(student_id, seconds, read_end)
