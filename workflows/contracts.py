"""What the saga workflow, its activities, the worker, the API and the tests agree on.

Activity inputs are single objects so fields can be added without breaking running workflows.
Activities are referred to by name, so the workflow never imports the code that does I/O.
No framework but pydantic: the choreography and the services share these types too (what
Temporal's visibility reads of a saga is in workflows/visibility.py).
"""

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from common.ids import CourseId, PaymentToken, StudentId
from sagas import SagaDeadlines, SagaProgress

# The onboarding saga's type (the SagaType search attribute, `saga_type` in every answer), in
# both styles: the choreography runs this saga too.
ONBOARDING_SAGA_TYPE = "student-onboarding"
TASK_QUEUE = "student-onboarding"
WORKFLOW_ID_PREFIX = "student-onboarding-"


def workflow_id_for(student_id: str) -> str:
    return f"{WORKFLOW_ID_PREFIX}{student_id}"


class Step(StrEnum):
    """The sagas' steps and undos; each value is also its activity's name and the suffix of its
    idempotency key (in both styles). The services' fault-injection operations ("reserve",
    "charge", ...) name their commands instead: one command serves several steps (the charge
    route serves charge_tuition and a dearer transfer's settle_difference)."""

    RESERVE_SEAT = "reserve_seat"
    CHARGE_TUITION = "charge_tuition"
    CONFIRM_ENROLLMENT = "confirm_enrollment"
    CANCEL_ENROLLMENT = "cancel_enrollment"
    REFUND_CHARGE = "refund_charge"
    SETTLE_DIFFERENCE = "settle_difference"
    REVERSE_SETTLEMENT = "reverse_settlement"
    WITHDRAW_ENROLLMENT = "withdraw_enrollment"


class NewStudent(BaseModel):
    """A new student, as the "student created" event names them (POST /students, the intake):
    the onboarding saga's input. On the choreography's bus the same facts travel as
    choreography.events.StudentCreated, its personal data sealed."""

    student_id: StudentId
    name: str = Field(min_length=1, max_length=200)
    email: EmailStr
    course_id: CourseId
    payment_token: PaymentToken


class SagaCorrections(BaseModel):
    """What a retried saga may change from its previous run (POST /sagas/{id}/retry, `saga
    retry`, either mode); everything else is the previous run's. Each saga type accepts some of
    them (workflows/registry.py, `correctable`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    payment_token: PaymentToken | None = None
    course_id: CourseId | None = None

    def changes(self) -> dict[str, str]:
        return self.model_dump(exclude_none=True)


class SagaInput(BaseModel):
    event: NewStudent
    deadlines: SagaDeadlines = SagaDeadlines()


class SagaState(SagaProgress):
    """The onboarding saga's progress: the kit's ledger plus what it created."""

    student_id: str
    course_id: str
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


def money(cents: int, currency: str) -> str:
    """An amount as people read it in a step's summary: `1200.00 USD`."""
    return f"{abs(cents) // 100}.{abs(cents) % 100:02d} {currency}"
