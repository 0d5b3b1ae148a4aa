"""The choreographed saga's events: what every service, the tracker and the tests agree on.

JSON on the wire. Every event carries `type` and `version` (a consumer refuses a version it does
not know rather than guess), `event_id`, `student_id` as the saga's correlation id (one saga per
student, as in the orchestrated mode) and `occurred_at`.

Each event type happens at most once per saga, so `event_id` is derived from (student, type):
an event emitted twice (a redelivered command, a replayed relay) is the same event everywhere,
and every inbox, and NATS's duplicate window, recognise it.
"""

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from common.ids import CourseId, StudentId

EVENT_ID_NAMESPACE = uuid.UUID("5b0a2f6e-3c1d-4e8a-9f57-2d3c6e1b9a40")


IDEMPOTENCY_KEY_PREFIX = "choreography:"
FIRST_RUN = 1


def saga_key_prefix(student_id: str, run: int = FIRST_RUN) -> str:
    """What the keys of one run of a student's choreographed saga start with: the first run's
    `choreography:<student>:`, a retry's `choreography:r<run>/<student>:` (a student id has no
    '/', so no run of one student reads as another student's)."""
    if run == FIRST_RUN:
        return f"{IDEMPOTENCY_KEY_PREFIX}{student_id}:"
    return f"{IDEMPOTENCY_KEY_PREFIX}r{run}/{student_id}:"


def idempotency_key(student_id: str, step: str, run: int = FIRST_RUN) -> str:
    """The key a choreographed saga's step uses with a service: `choreography:<student>:<step>`
    (one saga per student; see saga_key_prefix for a retry's), as the orchestrated saga's are
    `<workflow id>:<run id>:<step>`."""
    return f"{saga_key_prefix(student_id, run)}{step}"


def event_id_for(student_id: str, event_type: str, run: int = FIRST_RUN) -> str:
    name = f"{student_id}/{event_type}" if run == FIRST_RUN else f"{student_id}/{run}/{event_type}"
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, name))


class Event(BaseModel):
    """`run`: 1 for a student's saga, n for its (n-1)th retry (POST /sagas/{id}/retry); a
    retried saga is a new run with new event ids and new idempotency keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    version: Literal[1] = 1
    event_id: str = Field(default="", max_length=36)
    student_id: StudentId
    run: int = Field(default=FIRST_RUN, ge=FIRST_RUN)
    occurred_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    @model_validator(mode="before")
    @classmethod
    def _derive_event_id(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("event_id") and "student_id" in data:
            run = data.get("run", FIRST_RUN)
            event_id = event_id_for(data["student_id"], type_name(cls), run)
            return {**data, "event_id": event_id}
        return data

    @classmethod
    def following(cls, cause: "Event", **fields: Any) -> Self:
        """The event this saga emits next, correlated with the one that caused it."""
        return cls(student_id=cause.student_id, run=cause.run, **fields)

    def key(self, step: str) -> str:
        """This run's idempotency key for `step`."""
        return idempotency_key(self.student_id, step, self.run)


# Personal data, sealed by the API (choreography.sealing): the values were validated at the HTTP
# boundary (workflows.contracts.NewStudent); here they are ciphertext, or plaintext without
# payload keys.
# A sealed 200-character name: nonce, text and tag in base64, the prefix and a key id.
Sealed = Annotated[str, Field(min_length=1, max_length=512)]
SEALED_FIELDS = ("name", "email", "payment_token")


class StudentCreated(Event):
    type: Literal["StudentCreated"] = "StudentCreated"
    name: Sealed
    email: Sealed
    course_id: CourseId
    payment_token: Sealed


class SeatReserved(Event):
    """Carries the payment token on to billing: in choreography each event must hold what the
    next step needs, since no one else remembers it (the orchestrator's workflow state does)."""

    type: Literal["SeatReserved"] = "SeatReserved"
    enrollment_id: str
    course_id: str
    tuition_cents: int
    currency: str
    payment_token: Sealed


class SeatRejected(Event):
    type: Literal["SeatRejected"] = "SeatRejected"
    course_id: str
    reason: str


class PaymentCaptured(Event):
    type: Literal["PaymentCaptured"] = "PaymentCaptured"
    charge_id: str
    enrollment_id: str


class PaymentDeclined(Event):
    type: Literal["PaymentDeclined"] = "PaymentDeclined"
    enrollment_id: str
    reason: str


class EnrollmentConfirmed(Event):
    type: Literal["EnrollmentConfirmed"] = "EnrollmentConfirmed"
    enrollment_id: str


class EnrollmentConfirmationFailed(Event):
    type: Literal["EnrollmentConfirmationFailed"] = "EnrollmentConfirmationFailed"
    enrollment_id: str
    charge_id: str
    reason: str


class PaymentRefunded(Event):
    type: Literal["PaymentRefunded"] = "PaymentRefunded"
    charge_id: str
    enrollment_id: str


class EnrollmentCancelled(Event):
    """The seat is released: after a declined or refunded payment, or when the reservation
    expired unconfirmed (`expired`, `reason`: the semantic lock's time ran out; billing then
    refunds any capture for it and answers PaymentRefunded or PaymentVoided)."""

    type: Literal["EnrollmentCancelled"] = "EnrollmentCancelled"
    enrollment_id: str
    expired: bool = False
    reason: str = ""


class PaymentVoided(Event):
    """Billing's answer to a cancelled enrollment it holds no capture for: none can be taken any
    more (the charge's idempotency key is revoked), so a late SeatReserved charges nothing."""

    type: Literal["PaymentVoided"] = "PaymentVoided"
    enrollment_id: str


AnyEvent = Annotated[
    StudentCreated
    | SeatReserved
    | SeatRejected
    | PaymentCaptured
    | PaymentDeclined
    | EnrollmentConfirmed
    | EnrollmentConfirmationFailed
    | PaymentRefunded
    | EnrollmentCancelled
    | PaymentVoided,
    Field(discriminator="type"),
]
EVENT_TYPES: tuple[type[Event], ...] = (
    StudentCreated,
    SeatReserved,
    SeatRejected,
    PaymentCaptured,
    PaymentDeclined,
    EnrollmentConfirmed,
    EnrollmentConfirmationFailed,
    PaymentRefunded,
    EnrollmentCancelled,
    PaymentVoided,
)
_ADAPTER: TypeAdapter[AnyEvent] = TypeAdapter(AnyEvent)


def type_name(event_class: type[Event]) -> str:
    name: str = event_class.model_fields["type"].default
    return name


def to_json(event: Event) -> bytes:
    return event.model_dump_json().encode()


def from_json(data: bytes | str) -> AnyEvent:
    """Parse any event; an unknown type or version is a ValidationError (a poison message)."""
    return _ADAPTER.validate_json(data)
