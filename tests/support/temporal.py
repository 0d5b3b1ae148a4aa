"""Temporal servers for tests, from the pinned binaries in the virtualenv: never downloaded."""

import sysconfig
import uuid
from pathlib import Path

from workflows.contracts import StudentCreated

SCRIPTS = Path(sysconfig.get_path("scripts"))
TEMPORAL_CLI = SCRIPTS / "temporal"
TEMPORAL_TEST_SERVER = SCRIPTS / "temporal-test-server"


def unique_task_queue() -> str:
    return f"test-queue-{uuid.uuid4().hex[:8]}"


def student(
    course_id: str = "CS101", payment_token: str = "tok_visa", student_id: str | None = None
) -> StudentCreated:
    return StudentCreated(
        student_id=student_id or f"stu-{uuid.uuid4().hex[:10]}",
        name="Ada Lovelace",
        email="ada@example.com",
        course_id=course_id,
        payment_token=payment_token,
    )
