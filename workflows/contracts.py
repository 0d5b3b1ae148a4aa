"""What the saga workflow, its activities, the worker, the API and the tests agree on.

Activity inputs are single objects so fields can be added without breaking running workflows.
Activities are referred to by name, so the workflow never imports the code that does I/O.
"""

from enum import StrEnum

from pydantic import BaseModel, EmailStr, Field
from temporalio.common import SearchAttributeKey

TASK_QUEUE = "student-onboarding"
WORKFLOW_ID_PREFIX = "student-onboarding-"


def workflow_id_for(student_id: str) -> str:
    return f"{WORKFLOW_ID_PREFIX}{student_id}"


# The saga's own metrics, recorded by the workflow (workflows/saga.py) on the worker's endpoint.
SAGA_OUTCOMES_METRIC = "saga_outcomes"
SAGA_DURATION_METRIC = "saga_duration"


def student_id_of(workflow_id: str) -> str | None:
    """The inverse of `workflow_id_for`; None for a workflow that is not a saga."""
    if not workflow_id.startswith(WORKFLOW_ID_PREFIX):
        return None
    return workflow_id.removeprefix(WORKFLOW_ID_PREFIX)


# Custom search attributes, registered on the server by `make up` and the tests.
STUDENT_ID = SearchAttributeKey.for_keyword("StudentId")
COURSE_ID = SearchAttributeKey.for_keyword("CourseId")
SAGA_STATUS = SearchAttributeKey.for_keyword("SagaStatus")
SEARCH_ATTRIBUTES = (STUDENT_ID, COURSE_ID, SAGA_STATUS)


class SagaStatus(StrEnum):
    RUNNING = "RUNNING"
    COMPENSATING = "COMPENSATING"
    COMPLETED = "COMPLETED"
    COMPENSATED = "COMPENSATED"
    FAILED = "FAILED"


TERMINAL_STATUSES = frozenset({SagaStatus.COMPLETED, SagaStatus.COMPENSATED, SagaStatus.FAILED})


class Step(StrEnum):
    """Saga steps and compensations; each value is also its activity's name."""

    RESERVE_SEAT = "reserve_seat"
    CHARGE_TUITION = "charge_tuition"
    CONFIRM_ENROLLMENT = "confirm_enrollment"
    CANCEL_ENROLLMENT = "cancel_enrollment"
    REFUND_CHARGE = "refund_charge"


class ErrorType(StrEnum):
    """`ApplicationError.type` values the activities raise and the workflow reacts to."""

    STEP_REFUSED = "StepRefused"  # a business refusal: course full, card declined, ...
    CONTRACT_VIOLATION = "ServiceContractViolation"  # the service rejected our request: a bug
    TRANSIENT_FAULT = "TransientServiceFault"  # timeout, 5xx, 429: retried
    # 401/403: the worker's service token is wrong or revoked. Retried (the service wrote
    # nothing), so the saga waits, visibly, until an operator fixes SERVICE_TOKENS.
    NOT_AUTHORIZED = "ServiceNotAuthorized"


class SagaDeadlines(BaseModel):
    """How long the saga keeps retrying a step before giving up and compensating.
    Compensations have no deadline: they are retried until they succeed."""

    step_seconds: float = Field(default=120.0, gt=0)
    attempt_seconds: float = Field(default=15.0, gt=0)
    max_retry_interval_seconds: float = Field(default=10.0, gt=0)
    max_compensation_retry_interval_seconds: float = Field(default=30.0, gt=0)
    # A forward step's first try runs as a local activity for at most this long (and never
    # longer than an attempt); a step not settled by then goes on as a regular activity.
    local_attempt_seconds: float = Field(default=5.0, gt=0)


class StudentCreated(BaseModel):
    """The event that starts a saga."""

    student_id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:-]+$")
    name: str = Field(min_length=1, max_length=200)
    email: EmailStr
    course_id: str = Field(min_length=1, max_length=32)
    payment_token: str = Field(min_length=1, max_length=100)


class SagaInput(BaseModel):
    event: StudentCreated
    deadlines: SagaDeadlines = SagaDeadlines()


class SagaState(BaseModel):
    """The live status of a saga, answered by the workflow's `status` query and its result."""

    student_id: str
    course_id: str
    status: SagaStatus = SagaStatus.RUNNING
    current_step: Step | None = None
    completed_steps: list[Step] = []
    compensated_steps: list[Step] = []
    failed_step: Step | None = None
    failure_reason: str | None = None
    enrollment_id: str | None = None
    charge_id: str | None = None


class ReserveSeatInput(BaseModel):
    idempotency_key: str
    student_id: str
    course_id: str


class SeatReservation(BaseModel):
    enrollment_id: str
    tuition_cents: int
    currency: str


class ChargeTuitionInput(BaseModel):
    idempotency_key: str
    student_id: str
    enrollment_id: str
    amount_cents: int
    currency: str
    payment_token: str


class ChargeReceipt(BaseModel):
    charge_id: str


class ConfirmEnrollmentInput(BaseModel):
    enrollment_id: str


class CompensationInput(BaseModel):
    """Compensations find their resource by the step's idempotency key, so they work even when
    the step's answer was lost, and are no-ops (that also block a late arrival) otherwise."""

    idempotency_key: str
    student_id: str
