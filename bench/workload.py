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


class Outcome(StrEnum):
    SUCCESS = "success"
    DECLINED = "declined"
    COURSE_FULL = "course_full"


# The mix is 80/10/5/5 with 5% confirm failures. A confirm failure needs the
# enrollment cancelled between charge and confirm, which only a fault proxy can arrange; it
# would put a proxy on the measured path, so its 5% run as successes here (docs/benchmarks.md).
DEFAULT_MIX = {Outcome.SUCCESS: 0.85, Outcome.DECLINED: 0.10, Outcome.COURSE_FULL: 0.05}


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
    course = FULL_COURSE.course_id if outcome is Outcome.COURSE_FULL else "CS101"
    token = "tok_declined" if outcome is Outcome.DECLINED else "tok_visa"
    body = {
        "student_id": student_id,
        "name": "Bench Student",
        "email": "bench@example.com",
        "course_id": course,
        "payment_token": token,
    }
    return Order(student_id, outcome, body)
