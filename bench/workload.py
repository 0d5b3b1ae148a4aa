"""What the benchmark asks for: N students with a fixed outcome mix, in a reproducible order."""

import random
import uuid
from dataclasses import dataclass
from enum import StrEnum

from services.enrollment.models import CourseBase

# A course with no seat, seeded into the benchmark's enrollment database: "course full".
FULL_COURSE = CourseBase(
    course_id="BENCHFULL", title="Always full", capacity=0, tuition_cents=10_000, currency="USD"
)
# A course with seats whose enrollments the enrollment service refuses to confirm: the bench
# names it in UNCONFIRMABLE_COURSES (EnrollmentSettings), a fixture for "confirm failure": the
# seat is held and the tuition charged, then the confirmation is refused (refund, then cancel).
CLOSED_COURSE = CourseBase(
    course_id="BENCHCLOSED",
    title="Closed to confirmations",
    capacity=1_000_000,
    tuition_cents=10_000,
    currency="USD",
)
BENCH_COURSES = (FULL_COURSE, CLOSED_COURSE)


class Outcome(StrEnum):
    SUCCESS = "success"
    DECLINED = "declined"
    COURSE_FULL = "course_full"
    CONFIRM_FAILURE = "confirm_failure"


DEFAULT_MIX = {
    Outcome.SUCCESS: 0.80,
    Outcome.DECLINED: 0.10,
    Outcome.COURSE_FULL: 0.05,
    Outcome.CONFIRM_FAILURE: 0.05,
}
COURSE_OF = {
    Outcome.COURSE_FULL: FULL_COURSE.course_id,
    Outcome.CONFIRM_FAILURE: CLOSED_COURSE.course_id,
}


@dataclass(frozen=True)
class Order:
    student_id: str
    expected: Outcome
    body: dict[str, str]


def orders(count: int, mix: dict[Outcome, float], seed: int, prefix: str) -> list[Order]:
    """`count` students whose outcomes follow `mix` exactly (rounded), shuffled with `seed`."""
    outcomes: list[Outcome] = []
    for outcome, share in mix.items():
        outcomes += [outcome] * round(count * share)
    outcomes = (outcomes + [Outcome.SUCCESS] * count)[:count]
    random.Random(seed).shuffle(outcomes)
    run = uuid.uuid4().hex[:6]
    return [_order(f"{prefix}-{run}-{index}", outcome) for index, outcome in enumerate(outcomes)]


def _order(student_id: str, outcome: Outcome) -> Order:
    course = COURSE_OF.get(outcome, "CS101")
    token = "tok_declined" if outcome is Outcome.DECLINED else "tok_visa"
    body = {
        "student_id": student_id,
        "name": "Bench Student",
        "email": "bench@example.com",
        "course_id": course,
        "payment_token": token,
    }
    return Order(student_id, outcome, body)
