"""The invariant checker's rules (orchestrator/invariants.py evaluate) on hand-made states."""

from typing import Any

from temporalio.client import WorkflowExecutionStatus

from orchestrator.invariants import Report, Saga, evaluate

COURSE = {"course_id": "CS101", "capacity": 2, "tuition_cents": 1000, "currency": "USD"}


def saga(name: str, status: str, running: bool = False) -> Saga:
    execution = WorkflowExecutionStatus.RUNNING if running else WorkflowExecutionStatus.COMPLETED
    return Saga(f"student-onboarding-{name}", f"student-onboarding-{name}:run1:", execution, status)


def enrollment(name: str, status: str, enrollment_id: str | None = None) -> dict[str, Any]:
    return {
        "enrollment_id": enrollment_id or f"enr-{name}",
        "course_id": "CS101",
        "status": status,
        "idempotency_key": f"student-onboarding-{name}:run1:reserve_seat",
    }


def charge(name: str, status: str = "CAPTURED", amount: int = 1000) -> dict[str, Any]:
    return {
        "charge_id": f"chg-{name}",
        "enrollment_id": f"enr-{name}",
        "status": status,
        "amount_cents": amount,
        "currency": "USD",
        "refunded_at": "2026-01-01T00:00:00Z" if status == "REFUNDED" else None,
        "idempotency_key": f"student-onboarding-{name}:run1:charge_tuition",
    }


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

    assert rules(report) == ["completed-not-charged-once", "double-charge"]


def test_a_completed_saga_needs_a_confirmed_enrollment_and_the_tuition_charged() -> None:
    report = evaluate(
        [saga("a", "COMPLETED")],
        [course(1)],
        [enrollment("a", "PENDING")],
        [charge("a", amount=999)],
    )

    assert rules(report) == ["completed-not-confirmed"]
    confirmed = evaluate(
        [saga("a", "COMPLETED")],
        [course(1)],
        [enrollment("a", "CONFIRMED")],
        [charge("a", amount=9)],
    )
    assert rules(confirmed) == ["wrong-amount"]


def test_a_compensated_saga_must_release_its_seat_and_refund_its_charge() -> None:
    report = evaluate(
        [saga("a", "COMPENSATED")], [course(1)], [enrollment("a", "PENDING")], [charge("a")]
    )

    assert rules(report) == ["charge-not-refunded", "seat-held-after-saga"]


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

    assert rules(report) == ["charge-without-enrollment", "resource-without-saga"]


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
