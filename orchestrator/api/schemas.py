"""Request and response bodies of the orchestrator API."""

from datetime import datetime
from enum import StrEnum
from uuid import uuid4

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StrictBool,
    StrictInt,
    ValidationInfo,
    field_validator,
)

from common.ids import CourseId, PaymentToken, StudentId
from orchestrator.modes import SagaMode
from sagas import FailureKind, SagaStatus
from workflows.contracts import NewStudent, SagaState, Step
from workflows.transfer import CourseTransfer, TransferState


class StudentCreate(BaseModel):
    """The 'student created' event as posted by a client; student_id is generated if absent."""

    model_config = ConfigDict(extra="forbid")

    student_id: StudentId | None = None
    name: str = Field(min_length=1, max_length=200)
    email: EmailStr
    course_id: CourseId
    payment_token: PaymentToken
    mode: SagaMode = SagaMode.ORCHESTRATION

    def to_event(self) -> NewStudent:
        return NewStudent(
            student_id=self.student_id or f"stu-{uuid4().hex[:12]}",
            name=self.name,
            email=self.email,
            course_id=self.course_id,
            payment_token=self.payment_token,
        )


class TransferCreate(CourseTransfer):
    """Move a student with a CONFIRMED enrollment in `from_course_id` to `to_course_id`."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("to_course_id")
    @classmethod
    def another_course(cls, to_course_id: str, info: ValidationInfo) -> str:
        if to_course_id == info.data.get("from_course_id"):
            raise ValueError("must differ from from_course_id: a transfer moves to another course")
        return to_course_id

    def to_transfer(self) -> CourseTransfer:
        return CourseTransfer.model_validate(self.model_dump())


# GET /sagas/{saga_id}: the progress of whichever type the saga is.
SagaProgressAnswer = SagaState | TransferState


class SagaStarted(BaseModel):
    """The workflow and UI fields are set for orchestrated sagas only."""

    saga_id: str
    saga_type: str
    student_id: str
    mode: SagaMode = SagaMode.ORCHESTRATION
    workflow_id: str | None = None
    run_id: str | None = None
    status_url: str
    temporal_ui_url: str | None = None


class SagaListItem(BaseModel):
    saga_id: str
    saga_type: str | None
    student_id: str | None
    course_id: str | None
    status: SagaStatus | None
    workflow_id: str
    run_id: str
    started_at: datetime
    closed_at: datetime | None
    temporal_ui_url: str


class SagaRetried(BaseModel):
    saga_id: str
    student_id: str
    workflow_id: str
    previous_run_id: str
    run_id: str
    status_url: str
    temporal_ui_url: str


class BulkRetry(BaseModel):
    """Retry every saga with a run that matches a Temporal visibility query."""

    model_config = ConfigDict(extra="forbid")

    query: str = Field(
        min_length=1,
        max_length=2000,
        description="Visibility query, ANDed with the sagas' workflow types; no ORDER BY.",
        examples=['SagaStatus = "COMPENSATED" AND StartTime > "2026-11-28T00:00:00Z"'],
    )
    failed_step: Step | None = Field(
        default=None, description="Only runs that failed at this step (from their memo)."
    )
    failure_kind: FailureKind | None = Field(
        default=None, description="Only runs that failed this way (from their memo)."
    )
    reason_contains: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Only runs whose failure reason contains this text.",
    )
    # Strict: a JSON 0 or "5" is not what the schema documents (found by fuzzing).
    dry_run: StrictBool = Field(default=False, description="Only list what would be retried.")
    limit: StrictInt = Field(
        default=100, ge=1, le=1000, description="At most this many runs matched."
    )


class BulkRetryAction(StrEnum):
    RETRIED = "retried"
    WOULD_RETRY = "would-retry"
    SKIPPED = "skipped"


class BulkRetryItem(BaseModel):
    saga_id: str
    student_id: str
    workflow_id: str
    previous_run_id: str
    saga_status: SagaStatus | None
    action: BulkRetryAction
    reason: str | None
    run_id: str | None
    temporal_ui_url: str


class BulkRetryResult(BaseModel):
    query: str
    dry_run: bool
    retried: int
    would_retry: int
    skipped: int
    sagas: list[BulkRetryItem]
