"""HTTP adapter of the enrollment service: parse, call a use case, shape the answer."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status

from common.deps import DatabaseDep
from common.idempotency import IdempotencyKeyReused
from common.problems import ProblemMap, ProblemSpec, problem_responses
from common.requests import (
    WITHOUT_NUL,
    IdempotencyKey,
    JsonBody,
    KeyInPath,
    KeyPrefixFilter,
    StudentFilter,
    answer_replay,
    request_fingerprint,
)
from services.enrollment import service
from services.enrollment.domain import (
    CourseFull,
    CourseNotFound,
    EnrollmentNotConfirmable,
    EnrollmentNotFound,
    EnrollmentNotWithdrawable,
    EnrollmentStatus,
    ReservationRevoked,
)
from services.enrollment.models import (
    COURSE_ID_MAX_LENGTH,
    ENROLLMENT_ID_MAX_LENGTH,
    CoursePublic,
    Enrollment,
    EnrollmentCreate,
    EnrollmentPublic,
)

# The one place where enrollment's refusals become HTTP statuses and problem types.
PROBLEMS: ProblemMap = {
    CourseNotFound: ProblemSpec(404, "course-not-found", "Course not found"),
    EnrollmentNotFound: ProblemSpec(404, "enrollment-not-found", "Enrollment not found"),
    CourseFull: ProblemSpec(409, "course-full", "Course full"),
    EnrollmentNotConfirmable: ProblemSpec(
        409, "enrollment-not-confirmable", "Enrollment cannot be confirmed"
    ),
    EnrollmentNotWithdrawable: ProblemSpec(
        409, "enrollment-not-withdrawable", "Enrollment cannot be withdrawn"
    ),
    ReservationRevoked: ProblemSpec(409, "reservation-revoked", "Reservation revoked"),
    IdempotencyKeyReused: ProblemSpec(422, "idempotency-key-reused", "Idempotency key reused"),
}

# Ids in paths and queries are bounded like the columns they are looked up in (422, not a 500).
CourseId = Annotated[str, Path(max_length=COURSE_ID_MAX_LENGTH, pattern=WITHOUT_NUL)]
EnrollmentId = Annotated[str, Path(max_length=ENROLLMENT_ID_MAX_LENGTH, pattern=WITHOUT_NUL)]
CourseFilter = Annotated[str | None, Query(max_length=COURSE_ID_MAX_LENGTH, pattern=WITHOUT_NUL)]

courses = APIRouter(prefix="/courses", tags=["courses"])
enrollments = APIRouter(prefix="/enrollments", tags=["enrollments"])


def _course_public(course: service.Course) -> CoursePublic:
    return CoursePublic(
        **course.model_dump(), seats_available=max(course.capacity - course.seats_taken, 0)
    )


def _public(enrollment: Enrollment) -> EnrollmentPublic:
    return EnrollmentPublic.model_validate(enrollment.model_dump())


@courses.get("")
async def list_courses(database: DatabaseDep) -> list[CoursePublic]:
    """The course catalogue with seats taken and available."""
    return [_course_public(course) for course in await database.run(service.list_courses)]


@courses.get("/{course_id}", responses=problem_responses(404))
async def get_course(course_id: CourseId, database: DatabaseDep) -> CoursePublic:
    """One course."""
    return _course_public(await database.run(service.get_course, course_id))


@enrollments.post(
    "",
    status_code=status.HTTP_201_CREATED,
    dependencies=[JsonBody],
    responses=problem_responses(400, 404, 409, 415, 422),
)
async def reserve_seat(
    body: EnrollmentCreate,
    idempotency_key: IdempotencyKey,
    database: DatabaseDep,
    response: Response,
) -> EnrollmentPublic:
    """Reserve a seat: a PENDING enrollment that holds it until confirmed or cancelled."""
    enrollment, created = await database.run(
        service.reserve_seat, body, idempotency_key, request_fingerprint(body)
    )
    answer_replay(response, created)
    return _public(enrollment)


@enrollments.get("")
async def list_enrollments(
    database: DatabaseDep,
    student_id: StudentFilter = None,
    status: EnrollmentStatus | None = None,
    course_id: CourseFilter = None,
    idempotency_key_prefix: KeyPrefixFilter = None,
) -> list[EnrollmentPublic]:
    """Enrollments, optionally of one student, in one status, in one course or with
    idempotency keys starting with a prefix; filters combine."""
    found = await database.run(
        service.list_enrollments, student_id, idempotency_key_prefix, status, course_id
    )
    return [_public(enrollment) for enrollment in found]


@enrollments.get("/{enrollment_id}", responses=problem_responses(404))
async def get_enrollment(enrollment_id: EnrollmentId, database: DatabaseDep) -> EnrollmentPublic:
    """One enrollment."""
    return _public(await database.run(service.get_enrollment, enrollment_id))


@enrollments.post("/{enrollment_id}/confirm", responses=problem_responses(404, 409))
async def confirm_enrollment(
    enrollment_id: EnrollmentId, database: DatabaseDep, request: Request
) -> EnrollmentPublic:
    """Confirm a PENDING enrollment (idempotent); a cancelled one is 409."""
    closed = request.app.state.unconfirmable_courses
    return _public(await database.run(service.confirm_enrollment, enrollment_id, closed))


@enrollments.post("/{enrollment_id}/cancel", responses=problem_responses(404))
async def cancel_enrollment(enrollment_id: EnrollmentId, database: DatabaseDep) -> EnrollmentPublic:
    """Cancel an enrollment and release its seat exactly once (idempotent); a withdrawn one
    has released its seat already and stays WITHDRAWN."""
    return _public(await database.run(service.cancel_enrollment, enrollment_id))


@enrollments.post("/{enrollment_id}/withdraw", responses=problem_responses(404, 409))
async def withdraw_enrollment(
    enrollment_id: EnrollmentId, database: DatabaseDep
) -> EnrollmentPublic:
    """Withdraw from a CONFIRMED enrollment, releasing its seat exactly once (idempotent); a
    PENDING or CANCELLED one is 409."""
    return _public(await database.run(service.withdraw_enrollment, enrollment_id))


@enrollments.post("/by-key/{idempotency_key}/cancel", responses={204: {"description": "No-op"}})
async def cancel_by_idempotency_key(
    idempotency_key: KeyInPath, database: DatabaseDep, response: Response
) -> EnrollmentPublic | None:
    """Cancel the enrollment reserved with this key, or revoke the key if none exists yet
    (204): the compensation for a reservation whose answer was lost."""
    enrollment = await database.run(service.cancel_by_idempotency_key, idempotency_key)
    if enrollment is None:
        response.status_code = status.HTTP_204_NO_CONTENT
        return None
    return _public(enrollment)
