"""Temporal servers for tests, from the pinned binaries in the virtualenv: never downloaded."""

import base64
import sysconfig
import uuid
from pathlib import Path

from workflows.contracts import NewStudent

SCRIPTS = Path(sysconfig.get_path("scripts"))
TEMPORAL_CLI = SCRIPTS / "temporal"
TEMPORAL_TEST_SERVER = SCRIPTS / "temporal-test-server"

# A fixed AES-256 key for tests only (ids and key are configured nowhere else), in the format
# of the PAYLOAD_KEYS setting.
TEST_PAYLOAD_KEYS = f"tests-1:{base64.b64encode(bytes(range(32))).decode()}"
TEST_CODEC_SERVER_TOKEN = "codec-server-token-for-tests"


def unique_task_queue() -> str:
    return f"test-queue-{uuid.uuid4().hex[:8]}"


def student(
    course_id: str = "CS101", payment_token: str = "tok_visa", student_id: str | None = None
) -> NewStudent:
    return NewStudent(
        student_id=student_id or f"stu-{uuid.uuid4().hex[:10]}",
        name="Ada Lovelace",
        email="ada@example.com",
        course_id=course_id,
        payment_token=payment_token,
    )
