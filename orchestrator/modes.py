"""Which mode a student's saga runs in, decided once: the use cases behind POST /students.

Every start claims the student's mode in the API's database before it starts anything
(choreography.sagas: `claim_orchestration`, or `start_saga` with the registry row), one
transaction at a time per student, so two concurrent POSTs of one student in different modes
start one saga: the first claim wins, the other answers 409 `saga-in-other-mode`. Without a
broker the API runs orchestration only and there is nothing to decide.

Orchestrated sagas from before the claims are found in Temporal (a choreographed start asks it
first); choreographed ones by their registry row. A retry stays in the saga's mode.
"""

import asyncio
from enum import StrEnum

from temporalio.client import Client

from choreography import events
from choreography import sagas as choreographed
from choreography.runtime import Choreography
from choreography.sealing import FieldSealer, sealed_fields
from common.payload_keys import PayloadKeys
from orchestrator import recovery, sagas
from workflows.contracts import NewStudent, SagaCorrections


class SagaMode(StrEnum):
    ORCHESTRATION = "orchestration"
    CHOREOGRAPHY = "choreography"


class ChoreographyUnavailable(Exception):
    """Asked for choreography of an API started without a broker: a request this deployment
    cannot serve, not a transient outage, so 422 (a 503 would invite retries)."""

    def __init__(self) -> None:
        super().__init__(
            "Choreography mode is not enabled here: this API was started without BROKER_URL. "
            "Send mode 'orchestration', or start the API with a broker."
        )


class SagaInOtherMode(Exception):
    def __init__(self, student_id: str, mode: SagaMode) -> None:
        super().__init__(f"Student '{student_id}' already has a saga in {mode} mode.")


async def start_orchestrated(
    client: Client, task_queue: str, choreography: Choreography | None, event: NewStudent
) -> sagas.StartedSaga:
    """Claim the student for orchestration, then start (or find) its workflow."""
    if choreography is not None and not await asyncio.to_thread(
        choreographed.claim_orchestration, choreography.engine, event.student_id
    ):
        raise SagaInOtherMode(event.student_id, SagaMode.CHOREOGRAPHY)
    return await sagas.start_saga(client, task_queue, event)


async def start_choreographed(
    client: Client,
    choreography: Choreography | None,
    event: NewStudent,
    payload_keys: PayloadKeys | None,
) -> bool:
    """Claim the student for choreography and stage its StudentCreated event, its personal data
    sealed with the payload keys (choreography.sealing); False if its choreographed saga
    already exists."""
    if choreography is None:
        raise ChoreographyUnavailable()
    if await sagas.saga_exists(client, event.student_id):  # started before the claims
        raise SagaInOtherMode(event.student_id, SagaMode.ORCHESTRATION)
    personal = event.model_dump(include=set(events.SEALED_FIELDS))
    first_event = events.StudentCreated(
        **event.model_dump(exclude=set(events.SEALED_FIELDS)),
        **sealed_fields(FieldSealer(payload_keys), event.student_id, **personal),
    )
    started = await asyncio.to_thread(choreographed.start_saga, choreography.engine, first_event)
    if started is choreographed.Start.OTHER_MODE:
        raise SagaInOtherMode(event.student_id, SagaMode.ORCHESTRATION)
    choreography.relay.wake()
    return started is choreographed.Start.CREATED


async def retry_choreographed(
    choreography: Choreography | None,
    student_id: str,
    corrections: SagaCorrections,
    payload_keys: PayloadKeys | None,
) -> int | None:
    """Start a new run of the student's COMPENSATED choreographed saga; its run number, or None
    if the student's saga is not choreographed (then it is Temporal's to retry)."""
    if choreography is None:
        return None
    changes = corrections.changes()
    # The new StudentCreated carries its personal data sealed, as the first one did.
    sealed = set(changes) & set(events.SEALED_FIELDS)
    changes |= sealed_fields(
        FieldSealer(payload_keys), student_id, **{name: changes[name] for name in sealed}
    )
    try:
        run = await asyncio.to_thread(
            choreographed.retry_saga, choreography.engine, student_id, changes
        )
    except choreographed.SagaNotRetryable as refusal:
        raise recovery.SagaNotRetryable(str(refusal)) from refusal
    if run is not None:
        choreography.relay.wake()
    return run
