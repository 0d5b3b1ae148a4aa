"""The invariant checker's rules (orchestrator/ops/invariant_rules.py, evaluate) on hand-made
states."""

from typing import Any

from temporalio.client import WorkflowExecutionStatus

from orchestrator.ops.invariant_rules import Report, Saga, evaluate
from workflows.contracts import WORKFLOW_ID_PREFIX

COURSE = {"course_id": "CS101", "capacity": 2, "tuition_cents": 1000, "currency": "USD"}


def saga(name: str, status: str, running: bool = False) -> Saga:
    execution = WorkflowExecutionStatus.RUNNING if running else WorkflowExecutionStatus.COMPLETED
    return Saga(f"student-onboarding-{name}", f"student-onboarding-{name}:run1:", execution, status)


def enrollment(name: str, status: str, enrollment_id: str | None = None) -> dict[str, Any]:
    return {
        "enrollment_id": enrollment_id or f"enr-{name}",
        "student_id": name,
        "course_id": "CS101",
        "status": status,
        "tuition_cents": 1000,
        "currency": "USD",
        "idempotency_key": f"student-onboarding-{name}:run1:reserve_seat",
    }


def charge(name: str, status: str = "CAPTURED", amount: int = 1000) -> dict[str, Any]:
    refunded = status == "REFUNDED"
    return {
        "charge_id": f"chg-{name}",
        "student_id": name,
        "enrollment_id": f"enr-{name}",
        "status": status,
        "amount_cents": amount,
        "currency": "USD",
        "refunded_at": "2026-01-01T00:00:00Z" if refunded else None,
        "idempotency_key": f"student-onboarding-{name}:run1:charge_tuition",
        "refunded_cents": amount if refunded else 0,
        "refunds": [refund(amount, key=None)] if refunded else [],
    }


def refund(amount: int, key: str | None, status: str = "REFUNDED") -> dict[str, Any]:
    return {"amount_cents": amount, "status": status, "idempotency_key": key}


def refunded_in_part(row: dict[str, Any], *refunds: dict[str, Any]) -> dict[str, Any]:
    """The charge `row` with these refunds (partial ones: it stays CAPTURED)."""
    counted = sum(item["amount_cents"] for item in refunds if item["status"] == "REFUNDED")
    return {**row, "refunded_cents": counted, "refunds": list(refunds)}


def course(seats_taken: int) -> dict[str, Any]:
    return {**COURSE, "seats_taken": seats_taken}


def rules(report: Report) -> list[str]:
    return sorted(violation.rule for violation in report.violations)


def test_a_completed_and_a_compensated_saga_with_consistent_services_pass() -> None:
    report = evaluate(
        [saga("a", "COMPLETED"), saga("b", "COMPENSATED")],
        [course(seats_taken=1)],
        [enrollment("a", "CONFIRMED"), enrollment("b", "CANCELLED")],
        [charge("a"), charge("b", "REFUNDED")],
    )

    assert report.ok, report.violations
    assert report.sagas_by_status == {"COMPLETED": 1, "COMPENSATED": 1}


def test_a_second_charge_of_one_saga_is_a_double_charge() -> None:
    second = {**charge("a"), "charge_id": "chg-2", "idempotency_key": "student-onboarding-a:run1:x"}
    report = evaluate(
        [saga("a", "COMPLETED")],
        [course(1)],
        [enrollment("a", "CONFIRMED")],
        [charge("a"), second],
    )

    assert rules(report) == ["completed-not-charged-once", "double-charge", "money-not-conserved"]


def test_a_completed_saga_needs_a_confirmed_enrollment_and_the_tuition_charged() -> None:
    report = evaluate(
        [saga("a", "COMPLETED")],
        [course(1)],
        [enrollment("a", "PENDING")],
        [charge("a", amount=999)],
    )

    assert rules(report) == ["completed-not-confirmed", "money-not-conserved"]
    confirmed = evaluate(
        [saga("a", "COMPLETED")],
        [course(1)],
        [enrollment("a", "CONFIRMED")],
        [charge("a", amount=9)],
    )
    assert rules(confirmed) == ["money-not-conserved", "wrong-amount"]


def test_a_compensated_saga_must_release_its_seat_and_refund_its_charge() -> None:
    report = evaluate(
        [saga("a", "COMPENSATED")], [course(1)], [enrollment("a", "PENDING")], [charge("a")]
    )

    assert rules(report) == ["charge-not-refunded", "money-not-conserved", "seat-held-after-saga"]


def test_seats_taken_must_match_the_held_enrollments_and_stay_within_capacity() -> None:
    names = ["a", "b", "c"]
    report = evaluate(
        [saga(name, "COMPLETED") for name in names],
        [course(seats_taken=2)],
        [enrollment(name, "CONFIRMED") for name in names],
        [charge(name) for name in names],
    )

    assert rules(report) == ["course-overbooked", "seats-miscounted"]


def test_a_charge_for_another_sagas_enrollment_and_rows_of_no_saga_are_reported() -> None:
    stray = {**charge("ghost"), "enrollment_id": "enr-ghost"}
    report = evaluate(
        [saga("a", "COMPENSATED")],
        [course(0)],
        [enrollment("a", "CANCELLED", enrollment_id="enr-other")],
        [charge("a", "REFUNDED"), stray],
    )

    assert rules(report) == [
        "charge-without-enrollment",
        "money-not-conserved",
        "resource-without-saga",
    ]


def test_a_running_saga_is_a_violation_only_once_the_system_should_be_quiet() -> None:
    sagas = [saga("a", "COMPENSATING", running=True)]
    enrollments = [enrollment("a", "PENDING")]

    assert rules(evaluate(sagas, [course(1)], enrollments, [])) == ["saga-still-running"]
    assert evaluate(sagas, [course(1)], enrollments, [], expect_quiet=False).ok


def test_rows_of_an_unknown_saga_matter_only_while_they_hold_a_seat_or_money() -> None:
    released = evaluate(
        [], [course(0)], [enrollment("gone", "CANCELLED")], [charge("gone", "REFUNDED")]
    )
    holding = evaluate([], [course(1)], [enrollment("gone", "PENDING")], [])

    assert released.ok
    assert rules(holding) == ["resource-without-saga"]


# Money conservation (captured minus refunded == tuition of the CONFIRMED enrollments)


TRANSFER_PREFIX = "course-transfer-"
BOTH_SAGA_TYPES = (WORKFLOW_ID_PREFIX, TRANSFER_PREFIX)


def transfer(name: str, status: str, running: bool = False) -> Saga:
    """A saga of another type with keys of its own, as a course transfer's. (The rules per
    saga, written for onboarding, are not what these tests check: see `money`.)"""
    execution = WorkflowExecutionStatus.RUNNING if running else WorkflowExecutionStatus.COMPLETED
    return Saga(f"{TRANSFER_PREFIX}{name}", f"{TRANSFER_PREFIX}{name}:run1:", execution, status)


def transfer_key(name: str, step: str) -> str:
    return f"{TRANSFER_PREFIX}{name}:run1:{step}"


def in_course(row: dict[str, Any], course_id: str, tuition: int, key: str) -> dict[str, Any]:
    return {
        **row,
        "enrollment_id": f"enr-{course_id}",
        "course_id": course_id,
        "tuition_cents": tuition,
        "idempotency_key": key,
    }


def money(report: Report) -> list[str]:
    return [v.detail for v in report.violations if v.rule == "money-not-conserved"]


def test_a_student_who_moved_to_a_cheaper_course_with_a_partial_refund_keeps_the_difference() -> (
    None
):
    old = enrollment("a", "WITHDRAWN")
    new = in_course(enrollment("a", "CONFIRMED"), "SEM1", 600, transfer_key("a", "reserve_seat"))
    paid = refunded_in_part(charge("a"), refund(400, transfer_key("a", "settle_difference")))

    report = evaluate(
        [saga("a", "COMPLETED"), transfer("a", "COMPLETED")],
        [course(0), {**COURSE, "course_id": "SEM1", "tuition_cents": 600, "seats_taken": 1}],
        [old, new],
        [paid],
        key_prefixes=BOTH_SAGA_TYPES,
    )

    assert money(report) == []


def test_a_partial_refund_that_the_student_was_not_owed_is_money_not_conserved() -> None:
    paid = refunded_in_part(charge("a"), refund(400, transfer_key("a", "settle_difference")))

    report = evaluate([saga("a", "COMPLETED")], [course(1)], [enrollment("a", "CONFIRMED")], [paid])

    assert money(report) == [
        "captured minus refunded is 600 USD, the tuition of the CONFIRMED enrollments 1000 USD"
    ]


def test_a_reversed_refund_counts_nothing() -> None:
    paid = refunded_in_part(
        charge("a"), refund(400, transfer_key("a", "settle_difference"), status="REVERSED")
    )

    report = evaluate([saga("a", "COMPLETED")], [course(1)], [enrollment("a", "CONFIRMED")], [paid])

    assert report.ok, report.violations


def test_a_student_who_moved_to_a_dearer_course_paid_the_difference_by_a_second_charge() -> None:
    new = in_course(enrollment("a", "CONFIRMED"), "LAW1", 1500, transfer_key("a", "reserve_seat"))
    difference = {
        **charge("a", amount=500),
        "charge_id": "chg-difference",
        "idempotency_key": transfer_key("a", "settle_difference"),
    }
    rows = [enrollment("a", "WITHDRAWN"), new]
    sagas = [saga("a", "COMPLETED"), transfer("a", "COMPLETED")]

    paid = evaluate(sagas, [], rows, [charge("a"), difference], key_prefixes=BOTH_SAGA_TYPES)
    unpaid = evaluate(sagas, [], rows, [charge("a")], key_prefixes=BOTH_SAGA_TYPES)

    assert money(paid) == []
    assert money(unpaid) == [
        "captured minus refunded is 1000 USD, the tuition of the CONFIRMED enrollments 1500 USD"
    ]


def test_withdrawn_and_cancelled_enrollments_are_owed_nothing() -> None:
    report = evaluate(
        [saga("a", "COMPENSATED")],
        [course(0)],
        [enrollment("a", "WITHDRAWN"), enrollment("a", "CANCELLED", enrollment_id="enr-2")],
        [charge("a")],
    )

    assert money(report) == [
        "captured minus refunded is 1000 USD, the tuition of the CONFIRMED enrollments 0"
    ]


def test_a_student_with_money_in_motion_in_a_running_saga_is_not_checked() -> None:
    """Its transfer refunded the difference and has not withdrawn yet: the student is between
    two consistent states. Found by the refund's key alone (the charge is the onboarding's)."""
    paid = refunded_in_part(charge("a"), refund(400, transfer_key("a", "settle_difference")))
    sagas = [saga("a", "COMPLETED"), transfer("a", "RUNNING", running=True)]
    rows = [enrollment("a", "CONFIRMED")]

    def check(sagas: list[Saga], expect_quiet: bool = True) -> Report:
        return evaluate(
            sagas,
            [course(1)],
            rows,
            [paid],
            expect_quiet=expect_quiet,
            key_prefixes=BOTH_SAGA_TYPES,
        )

    assert money(check(sagas, expect_quiet=False)) == []
    assert rules(check(sagas)) == ["saga-still-running"]
    ended = [saga("a", "COMPLETED"), transfer("a", "COMPLETED")]
    assert money(check(ended)) == [
        "captured minus refunded is 600 USD, the tuition of the CONFIRMED enrollments 1000 USD"
    ]


def test_students_of_no_saga_checked_here_are_not_checked() -> None:
    """Rows with none of the key prefixes (e.g. the choreography's, when only Temporal's sagas
    are checked) belong to no saga here."""
    unpaid = {**enrollment("c", "CONFIRMED"), "idempotency_key": "choreography:c:reserve_seat"}

    report = evaluate([], [course(1)], [unpaid], [])

    assert report.ok, report.violations


def test_money_is_counted_per_currency() -> None:
    euros = {**charge("a"), "currency": "EUR"}

    report = evaluate(
        [saga("a", "COMPLETED")], [course(1)], [enrollment("a", "CONFIRMED")], [euros]
    )

    assert money(report) == [
        "captured minus refunded is 1000 EUR, the tuition of the CONFIRMED enrollments 1000 USD"
    ]


def test_a_charge_whose_refunds_do_not_add_up_is_inconsistent() -> None:
    said_more = {**charge("a"), "refunded_cents": 300}
    beyond = refunded_in_part(charge("a"), refund(1200, "k1"))

    found = [
        [
            v.detail
            for v in evaluate(
                [saga("a", "COMPLETED")], [course(1)], [enrollment("a", "CONFIRMED")], [row]
            ).violations
            if v.rule == "refund-inconsistent"
        ]
        for row in (said_more, beyond)
    ]

    assert found == [
        ["charge chg-a says refunded_cents 300, its refunds add up to 0"],
        ["charge chg-a is CAPTURED with 1200 of its 1000 cents refunded"],
    ]


def test_a_charge_from_a_billing_service_before_partial_refunds_counts_by_its_status() -> None:
    old_shape = [
        {key: value for key, value in row.items() if key not in ("refunded_cents", "refunds")}
        for row in (charge("a"), charge("b", "REFUNDED"))
    ]

    report = evaluate(
        [saga("a", "COMPLETED"), saga("b", "COMPENSATED")],
        [course(1)],
        [enrollment("a", "CONFIRMED"), enrollment("b", "CANCELLED")],
        old_shape,
    )

    assert report.ok, report.violations
