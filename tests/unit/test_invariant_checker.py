"""The invariant checker itself, on services faked with httpx.MockTransport (a mock: unit test)."""

from typing import Any

import httpx

from tests.support.invariants import violations


def mock_service(routes: dict[str, Any]) -> httpx.AsyncClient:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=routes[request.url.path])

    return httpx.AsyncClient(transport=httpx.MockTransport(answer), base_url="http://mock")


def enrollment(enrollment_id: str, status: str, student: str = "s1") -> dict[str, str]:
    return {
        "enrollment_id": enrollment_id,
        "student_id": student,
        "course_id": "C1",
        "status": status,
    }


def charge(enrollment_id: str, status: str = "CAPTURED") -> dict[str, str]:
    return {"enrollment_id": enrollment_id, "status": status}


async def check(
    seats_taken: int, enrollments: list[dict[str, str]], charges: list[dict[str, str]]
) -> list[str]:
    courses = [{"course_id": "C1", "seats_taken": seats_taken}]
    async with (
        mock_service({"/courses": courses, "/enrollments": enrollments}) as enrollment_service,
        mock_service({"/charges": charges}) as billing_service,
    ):
        return await violations(enrollment_service, billing_service)


async def test_consistent_services_have_no_violations() -> None:
    found = await check(
        1,
        [enrollment("e1", "CONFIRMED"), enrollment("e2", "CANCELLED", "s2")],
        [charge("e1"), charge("e2", "REFUNDED")],
    )

    assert found == []


async def test_a_leaked_seat_a_double_charge_and_money_for_a_cancelled_seat_are_reported() -> None:
    found = await check(
        2,
        [enrollment("e1", "CONFIRMED"), enrollment("e2", "CANCELLED", "s2")],
        [charge("e1"), charge("e1"), charge("e2")],
    )

    assert len(found) == 3
    assert any("seats taken" in problem for problem in found)
    assert any("charged 2 times" in problem for problem in found)
    assert any("CANCELLED" in problem for problem in found)
