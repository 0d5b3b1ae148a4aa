"""A first version of the invariant checker (the reliability issue owns the full one): what must
hold across enrollment and billing whatever the mode, once no saga is in flight.

Read through the services' public HTTP APIs, so it checks what users would see.
"""

from collections import Counter
from typing import Any

import httpx

SEAT_HOLDING = {"PENDING", "CONFIRMED"}


async def violations(enrollment: httpx.AsyncClient, billing: httpx.AsyncClient) -> list[str]:
    courses: list[dict[str, Any]] = (await enrollment.get("/courses")).json()
    enrollments: list[dict[str, Any]] = (await enrollment.get("/enrollments")).json()
    charges: list[dict[str, Any]] = (await billing.get("/charges")).json()
    found = []
    holding = Counter(e["course_id"] for e in enrollments if e["status"] in SEAT_HOLDING)
    for course in courses:
        if course["seats_taken"] != holding[course["course_id"]]:
            found.append(
                f"{course['course_id']}: {course['seats_taken']} seats taken but "
                f"{holding[course['course_id']]} enrollments hold one"
            )
    captured = Counter(c["enrollment_id"] for c in charges if c["status"] == "CAPTURED")
    by_id = {e["enrollment_id"]: e for e in enrollments}
    for enrollment_id, count in captured.items():
        status = by_id.get(enrollment_id, {}).get("status")
        if count > 1:
            found.append(f"enrollment {enrollment_id} was charged {count} times")
        if status != "CONFIRMED":
            found.append(f"a captured charge for enrollment {enrollment_id}, which is {status}")
    for e in enrollments:
        if e["status"] == "CONFIRMED" and captured[e["enrollment_id"]] == 0:
            found.append(f"confirmed enrollment {e['enrollment_id']} without a captured charge")
    seats_per_student = Counter(
        (e["student_id"], e["course_id"]) for e in enrollments if e["status"] in SEAT_HOLDING
    )
    found += [f"{key} holds {n} seats" for key, n in seats_per_student.items() if n > 1]
    return found
