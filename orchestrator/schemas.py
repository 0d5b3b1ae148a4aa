"""Request and response bodies of the orchestrator API."""

from datetime import datetime
from enum import StrEnum
from uuid import uuid4

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from workflows.contracts import SagaStatus, StudentCreated


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
