"""Request and response bodies of the orchestrator API."""

from datetime import datetime
from enum import StrEnum
from uuid import uuid4

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StrictBool, StrictInt

from workflows.contracts import SagaStatus, Step, StudentCreated


class SagaMode(StrEnum):
    ORCHESTRATION = "orchestration"
    CHOREOGRAPHY = "choreography"


class StudentCreate(BaseModel):
    """The 'student created' event as posted by a client; student_id is generated if absent."""

    model_config = ConfigDict(extra="forbid")

    student_id: str | None = Field(
        default=None, min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:-]+$"
    )
    name: str = Field(min_length=1, max_length=200)
    email: EmailStr
    course_id: str = Field(min_length=1, max_length=32)
    payment_token: str = Field(min_length=1, max_length=100)
    mode: SagaMode = SagaMode.ORCHESTRATION

    def to_event(self) -> StudentCreated:
        return StudentCreated(
            student_id=self.student_id or f"stu-{uuid4().hex[:12]}",
            name=self.name,
            email=self.email,
            course_id=self.course_id,
            payment_token=self.payment_token,
        )


class SagaStarted(BaseModel):
    """The workflow and UI fields are set for orchestrated sagas only."""

    student_id: str
    mode: SagaMode = SagaMode.ORCHESTRATION
    workflow_id: str | None = None
    run_id: str | None = None
    status_url: str
    temporal_ui_url: str | None = None


class SagaListItem(BaseModel):
    student_id: str | None
    course_id: str | None
    status: SagaStatus | None
    workflow_id: str
    run_id: str
    started_at: datetime
    closed_at: datetime | None
    temporal_ui_url: str


class SagaRetry(BaseModel):
    """Corrections for a retried saga; everything else is the previous run's event."""

    model_config = ConfigDict(extra="forbid")

    payment_token: str | None = Field(default=None, min_length=1, max_length=100)
    course_id: str | None = Field(default=None, min_length=1, max_length=32)


class SagaRetried(BaseModel):
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
        description="Visibility query, ANDed with WorkflowType = StudentOnboardingSaga; "
        "no ORDER BY.",
        examples=['SagaStatus = "COMPENSATED" AND StartTime > "2026-11-28T00:00:00Z"'],
    )
    failed_step: Step | None = Field(
        default=None, description="Only runs that failed at this step (from their memo)."
    )
    reason_contains: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Only runs whose failure reason contains this text, e.g. 'deadline'.",
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
