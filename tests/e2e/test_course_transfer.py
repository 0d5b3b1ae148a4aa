"""The course transfer saga on real parts: the API, the worker, Temporal's dev server, the
services over HTTP. After each scenario the invariant checker finds nothing new (money
conserved: captured minus refunded equals the tuition of the courses the student is in)."""

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sagas import SagaStatus
from tests.e2e.conftest import FULL_COURSE, System, invariant_violations, new_student, run_saga
from tests.support import invariants
from tests.support.credentials import SERVICE_HEADERS
from tests.support.faulty_proxy import FaultPlan
from tests.support.stack import SAME_PRICE_COURSE

CS101, MATH201 = 120_000, 95_000  # tuition in cents, from the services' catalogue


@pytest.fixture(params=["system", pytest.param("postgres_system", marks=pytest.mark.postgres)])
def conserving(request: pytest.FixtureRequest) -> Iterator[System]:
    """The system on SQLite, then on PostgreSQL (CI); faults cleared and money conserved."""
    system: System = request.getfixturevalue(request.param)
    system.billing_faults.clear()
    known = invariant_violations(system)
    yield system
    system.billing_faults.clear()
    assert invariant_violations(system) - known == set()


async def violations_now(system: System) -> set[str]:
    return await invariants.violations(
        system.temporal, system.enrollment, system.billing, system.api_database_url
    )


async def enrolled(system: System, course_id: str) -> str:
    student = new_student(course_id=course_id)
    assert (await run_saga(system, student))["status"] == SagaStatus.COMPLETED
    return student["student_id"]


def transfer_body(
    student_id: str, from_course: str, to_course: str, token: str = "tok_visa"
) -> dict[str, str]:
    return {
        "student_id": student_id,
        "from_course_id": from_course,
        "to_course_id": to_course,
        "payment_token": token,
    }


async def transfer(
    system: System, student_id: str, to_course: str, from_course: str, token: str = "tok_visa"
) -> dict[str, Any]:
    body = transfer_body(student_id, from_course, to_course, token)
    response = await system.api.post("/transfers", json=body)
    assert response.status_code == 202, response.text
    return await system.wait_for_terminal(response.json()["saga_id"])


async def statuses(system: System, student_id: str) -> dict[str, str]:
    return {row["course_id"]: row["status"] for row in await system.enrollments_of(student_id)}


async def test_a_transfer_answers_202_with_its_saga_id_type_and_links(
    conserving: System,
) -> None:
    student_id = await enrolled(conserving, "MATH201")
    body = transfer_body(student_id, "MATH201", "CS101", "tok_visa")

    response = await conserving.api.post("/transfers", json=body)

    assert response.status_code == 202, response.text
    started = response.json()
    assert started["saga_id"] == f"transfer~{student_id}"
    assert started["saga_type"] == "course-transfer"
    assert started["workflow_id"] == f"course-transfer-{student_id}"
    assert response.headers["Location"] == started["status_url"]
    assert started["status_url"].endswith(f"/sagas/transfer~{student_id}")
    assert "/workflows/course-transfer-" in started["temporal_ui_url"]
    saga = await conserving.wait_for_terminal(started["saga_id"])
    assert (saga["saga_id"], saga["saga_type"]) == (started["saga_id"], "course-transfer")


async def test_a_transfer_to_a_dearer_course_charges_the_difference(conserving: System) -> None:
    student_id = await enrolled(conserving, "MATH201")

    saga = await transfer(conserving, student_id, "CS101", "MATH201")

    assert saga["status"] == SagaStatus.COMPLETED
    assert saga["price_difference_cents"] == CS101 - MATH201
    assert await statuses(conserving, student_id) == {"MATH201": "WITHDRAWN", "CS101": "CONFIRMED"}
    charges = await conserving.charges_of(student_id)
    assert sorted(charge["amount_cents"] for charge in charges) == [CS101 - MATH201, MATH201]
    assert all(charge["refunded_cents"] == 0 for charge in charges)


async def test_a_transfer_to_a_cheaper_course_refunds_part_of_the_charge(
    conserving: System,
) -> None:
    student_id = await enrolled(conserving, "CS101")

    saga = await transfer(conserving, student_id, "MATH201", "CS101")

    assert saga["status"] == SagaStatus.COMPLETED
    assert saga["price_difference_cents"] == MATH201 - CS101
    assert await statuses(conserving, student_id) == {"CS101": "WITHDRAWN", "MATH201": "CONFIRMED"}
    [charge] = await conserving.charges_of(student_id)
    assert (charge["status"], charge["refunded_cents"]) == ("CAPTURED", CS101 - MATH201)
    [refund] = charge["refunds"]
    assert refund["amount_cents"] == CS101 - MATH201
    settled = next(entry for entry in saga["ledger"] if entry["name"] == "settle_difference")
    assert settled["summary"] == "refund 250.00 USD"


async def test_a_transfer_between_courses_of_one_price_settles_nothing(
    conserving: System,
) -> None:
    student_id = await enrolled(conserving, "CS101")

    saga = await transfer(conserving, student_id, SAME_PRICE_COURSE.course_id, "CS101")

    assert saga["status"] == SagaStatus.COMPLETED
    [settle] = [entry for entry in saga["ledger"] if entry["name"] == "settle_difference"]
    assert settle["outcome"] == "skipped"
    [charge] = await conserving.charges_of(student_id)
    assert (charge["amount_cents"], charge["refunded_cents"]) == (CS101, 0)


async def test_a_transfer_to_a_full_course_changes_nothing(conserving: System) -> None:
    student_id = await enrolled(conserving, "CS101")

    saga = await transfer(conserving, student_id, FULL_COURSE.course_id, "CS101")

    assert saga["status"] == SagaStatus.COMPENSATED
    assert (saga["failure"]["kind"], saga["failed_step"]) == ("refused", "reserve_seat")
    assert await statuses(conserving, student_id) == {"CS101": "CONFIRMED"}


async def test_a_declined_card_for_the_difference_releases_the_new_seat(
    conserving: System,
) -> None:
    student_id = await enrolled(conserving, "MATH201")

    saga = await transfer(conserving, student_id, "CS101", "MATH201", token="tok_declined")

    assert saga["status"] == SagaStatus.COMPENSATED
    assert (saga["failure"]["kind"], saga["failed_step"]) == ("refused", "settle_difference")
    assert saga["compensated_steps"] == ["cancel_enrollment"]
    assert await statuses(conserving, student_id) == {"MATH201": "CONFIRMED", "CS101": "CANCELLED"}
    [charge] = await conserving.charges_of(student_id)
    assert charge["amount_cents"] == MATH201


async def test_a_refused_withdrawal_reverses_the_refund_and_releases_the_new_seat(
    system: System, faults: FaultPlan
) -> None:
    """The pivot refused (the old enrollment was cancelled meanwhile, outside any saga):
    everything before it is undone, in reverse order, the partial refund by its reversal. The
    cancel itself leaves the onboarding's tuition captured for a cancelled enrollment, and the
    checker says so: that, and only that, is new."""
    conserving = system
    known = await violations_now(system)
    student_id = await enrolled(conserving, "CS101")
    [old] = await conserving.enrollments_of(student_id)
    old_id = old["enrollment_id"]

    enrollment_url = str(system.enrollment.base_url)

    async def cancel_the_old_enrollment(_: dict[str, Any]) -> None:
        # Runs in the proxy's own event loop: a client of its own.
        async with httpx.AsyncClient(base_url=enrollment_url, headers=SERVICE_HEADERS) as http:
            await http.post(f"/enrollments/{old_id}/cancel")

    faults.before("POST", "/charges/*/refunds", cancel_the_old_enrollment)
    saga = await transfer(conserving, student_id, "MATH201", "CS101")

    assert saga["status"] == SagaStatus.COMPENSATED
    assert saga["failed_step"] == "withdraw_enrollment"
    assert saga["compensated_steps"] == ["reverse_settlement", "cancel_enrollment"]
    [charge] = await conserving.charges_of(student_id)
    assert charge["refunded_cents"] == 0
    assert [refund["status"] for refund in charge["refunds"]] == ["REVERSED"]
    new = await violations_now(system) - known
    assert {violation.split(" ")[0] for violation in new} == {
        "completed-not-confirmed",
        "money-not-conserved",
    }
    assert all(student_id in violation for violation in new)


async def test_a_second_transfer_while_one_runs_is_refused(
    conserving: System, faults: FaultPlan
) -> None:
    student_id = await enrolled(conserving, "MATH201")
    faults.fail_next("POST", "/charges", times=3)  # holds the first transfer for a while
    body = transfer_body(student_id, "MATH201", "CS101", "tok_visa")
    first = await conserving.api.post("/transfers", json=body)

    second = await conserving.api.post("/transfers", json=body)

    assert first.status_code == 202, first.text
    assert second.status_code == 409
    assert second.headers["Content-Type"] == "application/problem+json"
    assert second.json()["type"].endswith("saga-running")
    assert (await conserving.wait_for_terminal(first.json()["saga_id"]))["status"] == "COMPLETED"


async def test_a_transfer_of_a_student_not_confirmed_in_the_course_is_refused(
    conserving: System,
) -> None:
    student_id = await enrolled(conserving, "CS101")
    body = transfer_body(student_id, "MATH201", "CS101", "tok_visa")

    response = await conserving.api.post("/transfers", json=body)

    assert response.status_code == 409
    assert response.json()["type"].endswith("not-enrolled")
    assert (await conserving.api.get(f"/sagas/transfer~{student_id}")).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"from_course_id": "CS101", "to_course_id": "CS101"}, "to_course_id"),
        ({"from_course_id": "CS101", "to_course_id": "CS 101"}, "to_course_id"),
        ({"from_course_id": "CS101"}, "to_course_id"),
    ],
)
async def test_an_invalid_transfer_is_422_naming_the_field(
    system: System, body: dict[str, str], field: str
) -> None:
    response = await system.api.post(
        "/transfers", json={"student_id": "stu-x", "payment_token": "tok_visa", **body}
    )

    assert response.status_code == 422
    assert response.headers["Content-Type"] == "application/problem+json"
    assert field in response.text


async def test_a_transfer_posted_as_a_form_is_415(system: System) -> None:
    response = await system.api.post("/transfers", data={"student_id": "stu-x"})

    assert response.status_code == 415
    assert "application/json" in response.json()["detail"]


async def test_sagas_are_listed_by_type_and_status(conserving: System) -> None:
    student_id = await enrolled(conserving, "CS101")
    await transfer(conserving, student_id, FULL_COURSE.course_id, "CS101")

    listed = await conserving.api.get(
        "/sagas", params={"type": "course-transfer", "status": "COMPENSATED"}
    )
    unknown = await conserving.api.get("/sagas", params={"type": "no-such-saga"})

    assert listed.status_code == 200
    assert {saga["saga_type"] for saga in listed.json()} == {"course-transfer"}
    assert f"transfer~{student_id}" in {saga["saga_id"] for saga in listed.json()}
    assert {saga["status"] for saga in listed.json()} == {"COMPENSATED"}
    assert unknown.status_code == 422


async def test_a_compensated_transfer_is_retried_with_a_corrected_card(
    conserving: System,
) -> None:
    student_id = await enrolled(conserving, "MATH201")
    failed = await transfer(conserving, student_id, "CS101", "MATH201", token="tok_declined")
    assert failed["status"] == SagaStatus.COMPENSATED

    retried = await conserving.api.post(
        f"/sagas/{failed['saga_id']}/retry", json={"payment_token": "tok_visa"}
    )
    not_correctable = await conserving.api.post(
        f"/sagas/{failed['saga_id']}/retry", json={"course_id": "SEM1"}
    )

    assert retried.status_code == 202, retried.text
    saga = await conserving.wait_for_terminal(failed["saga_id"])
    assert saga["status"] == SagaStatus.COMPLETED
    assert await statuses(conserving, student_id) == {"MATH201": "WITHDRAWN", "CS101": "CONFIRMED"}
    assert not_correctable.status_code in (409, 422)


async def test_an_onboarding_answer_names_its_saga_id_and_type(system: System) -> None:
    student = new_student()

    response = await system.api.post("/students", json=student)

    assert response.status_code == 202
    assert response.json()["saga_id"] == student["student_id"]
    assert response.json()["saga_type"] == "student-onboarding"
    await system.wait_for_terminal(student["student_id"])
