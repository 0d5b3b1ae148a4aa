"""The invariant checker applied to choreographed sagas (keys `choreography:<student>:<step>`),
on rows written here: the checks are pure functions of the data read."""

from typing import Any

from temporalio.client import WorkflowExecutionStatus

from choreography.events import IDEMPOTENCY_KEY_PREFIX, idempotency_key
from orchestrator.ops.invariant_rules import Saga, evaluate
from workflows.contracts import WORKFLOW_ID_PREFIX

COURSE = {
    "course_id": "CS101",
    "seats_taken": 1,
    "capacity": 10,
    "tuition_cents": 100,
    "currency": "USD",
}
BOTH_MODES = (WORKFLOW_ID_PREFIX, IDEMPOTENCY_KEY_PREFIX)


def choreographed(student_id: str, status: str) -> Saga:
    return Saga(
        workflow_id=f"choreography:{student_id}",
        key_prefix=f"{IDEMPOTENCY_KEY_PREFIX}{student_id}:",
        execution_status=WorkflowExecutionStatus.COMPLETED,
        status=status,
    )


def enrollment(student_id: str, status: str) -> dict[str, Any]:
    return {
        "enrollment_id": f"e-{student_id}",
        "student_id": student_id,
        "course_id": "CS101",
        "status": status,
        "tuition_cents": 100,
        "currency": "USD",
        "idempotency_key": idempotency_key(student_id, "reserve_seat"),
    }


def charge(student_id: str, status: str) -> dict[str, Any]:
    refunded = status == "REFUNDED"
    return {
        "charge_id": f"c-{student_id}",
        "student_id": student_id,
        "enrollment_id": f"e-{student_id}",
        "status": status,
        "amount_cents": 100,
        "currency": "USD",
        "refunded_at": "2026-01-01T00:00:00Z" if refunded else None,
        "idempotency_key": idempotency_key(student_id, "charge_tuition"),
        "refunded_cents": 100 if refunded else 0,
        "refunds": [{"amount_cents": 100, "status": "REFUNDED", "idempotency_key": None}]
        if refunded
        else [],
    }


def rules(sagas: list[Saga], enrollments: list[Any], charges: list[Any]) -> list[str]:
    held = sum(row["status"] in ("PENDING", "CONFIRMED") for row in enrollments)
    course = {**COURSE, "seats_taken": held}  # seat accounting is not what these tests check
    report = evaluate(sagas, [course], enrollments, charges, key_prefixes=BOTH_MODES)
    return [violation.rule for violation in report.violations]


def test_a_completed_choreographed_saga_with_its_seat_and_charge_is_consistent() -> None:
    assert (
        rules(
            [choreographed("ada", "COMPLETED")],
            [enrollment("ada", "CONFIRMED")],
            [charge("ada", "CAPTURED")],
        )
        == []
    )


def test_a_compensated_choreographed_saga_that_kept_the_money_is_reported() -> None:
    found = rules(
        [choreographed("bob", "COMPENSATED")],
        [enrollment("bob", "CANCELLED")],
        [charge("bob", "CAPTURED")],
    )

    assert found == ["money-not-conserved", "charge-not-refunded"]


def test_a_seat_under_the_keys_of_no_choreographed_saga_is_reported() -> None:
    found = rules([], [enrollment("ghost", "CONFIRMED")], [])

    assert found == ["money-not-conserved", "resource-without-saga"]
