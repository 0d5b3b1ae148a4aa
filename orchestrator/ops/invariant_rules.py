"""The invariant checker's rules: what must hold between the sagas and the services' state.

Every violation of:

- a COMPLETED onboarding has its enrollment CONFIRMED (or WITHDRAWN by a later transfer) and
  exactly one CAPTURED charge of the course's tuition; a CONFIRMED enrollment or an unrefunded
  charge belongs to a COMPLETED saga (or one still running);
- a COMPLETED course transfer has its new enrollment CONFIRMED (or WITHDRAWN by a later one);
  a COMPENSATED one holds no seat, no captured charge and no counted refund under its keys;
- a COMPENSATED saga holds no PENDING/CONFIRMED enrollment and no unrefunded charge;
- no charge without an enrollment of the same saga, at most one charge and one enrollment per
  saga, a charge is REFUNDED exactly when it records its full refund, and its refunded_cents
  is the sum of its refunds that count, at most its amount (refunds live on the charge, so a
  refund without its charge cannot even be stored);
- per course, seats taken == PENDING + CONFIRMED enrollments <= capacity;
- money is conserved: for every student of a saga checked here, what their charges captured
  minus what was refunded (partial refunds included, reversed ones not) equals the tuition of
  the enrollments they are CONFIRMED in (WITHDRAWN, CANCELLED and PENDING count nothing);
- no seat held nor money kept under the keys of a saga Temporal does not know;
- once the system is quiet, no saga is still running, none ended FAILED (a compensation the
  service refused: an operator's case) or waits as COMPENSATION_FAILED, and no execution ended
  other than completed/cancelled.

A saga's resources are found by its idempotency keys, `<workflow id>:<first run id>:<step>`
(sagas/runner.py), so a lost answer cannot hide them. The sagas are every type the registry
(workflows/registry.py) lists. These are the rules, on data already read (pure, so they are
unit-tested on hand-made states); orchestrator/ops/invariants.py reads a running system and
`saga check` prints the report.
"""

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from temporalio.client import WorkflowExecutionStatus

from sagas import SagaStatus
from workflows import registry

HELD_SEAT = frozenset({"PENDING", "CONFIRMED"})
# Once CONFIRMED, an enrollment a later transfer withdrew from.
CONFIRMED_ONCE = frozenset({"CONFIRMED", "WITHDRAWN"})
COUNTED_REFUND = "REFUNDED"  # a REVERSED refund gave its money back to the charge
SAGA_KEY_PREFIXES = tuple(saga_type.workflow_id_prefix for saga_type in registry.SAGA_TYPES)


@dataclass(frozen=True)
class Violation:
    rule: str
    subject: str
    detail: str


@dataclass(frozen=True)
class Saga:
    workflow_id: str
    key_prefix: str  # "<workflow id>:<first run id>:", shared by the saga's idempotency keys
    execution_status: WorkflowExecutionStatus | None
    status: str | None  # the SagaStatus search attribute
    saga_type: str = registry.ONBOARDING.name

    @property
    def running(self) -> bool:
        return self.execution_status == WorkflowExecutionStatus.RUNNING


@dataclass
class Report:
    sagas_by_status: Counter[str] = field(default_factory=Counter)
    enrollments: int = 0
    charges: int = 0
    courses: int = 0
    violations: list[Violation] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    @property
    def sagas(self) -> int:
        return sum(self.sagas_by_status.values())

    def add(self, rule: str, subject: str, detail: str) -> None:
        self.violations.append(Violation(rule, subject, detail))


def evaluate(
    sagas: list[Saga],
    courses: list[dict[str, Any]],
    enrollments: list[dict[str, Any]],
    charges: list[dict[str, Any]],
    *,
    expect_quiet: bool = True,
    key_prefixes: tuple[str, ...] = SAGA_KEY_PREFIXES,
) -> Report:
    """The checks themselves, on data already read: pure, so they are unit-testable.
    Rows whose idempotency key has none of `key_prefixes` belong to no saga checked here (add
    choreography.events.IDEMPOTENCY_KEY_PREFIX, and pass the choreographed sagas, to check
    those too)."""
    report = Report(enrollments=len(enrollments), charges=len(charges), courses=len(courses))
    _check_courses(report, courses, enrollments)
    by_saga_enrollments = _by_saga(enrollments, key_prefixes)
    by_saga_charges = _by_saga(charges, key_prefixes)
    tuition = {course["course_id"]: course for course in courses}
    # A saga retried by a reset keeps its first run id: several executions, one set of keys.
    latest: dict[str, Saga] = {}
    for saga in sagas:
        if saga.key_prefix not in latest or saga.running:
            latest[saga.key_prefix] = saga
    running = tuple(prefix for prefix, saga in latest.items() if saga.running)
    _check_money(report, enrollments, charges, key_prefixes, running)
    for saga in latest.values():
        report.sagas_by_status[_label(saga)] += 1
        saga_enrollments = by_saga_enrollments.pop(saga.key_prefix, [])
        saga_charges = by_saga_charges.pop(saga.key_prefix, [])
        if saga.running and not expect_quiet:
            continue
        if saga.saga_type == registry.TRANSFER.name:
            _check_transfer(report, saga, saga_enrollments, saga_charges, charges)
        else:
            _check_saga(report, saga, saga_enrollments, saga_charges, tuition)
    # Rows of sagas Temporal no longer knows (e.g. past retention) matter only if they still
    # hold a seat or money.
    for prefix, rows in (by_saga_enrollments | by_saga_charges).items():
        holding = [row for row in rows if row["status"] in HELD_SEAT | {"CAPTURED"}]
        if holding:
            report.add(
                "resource-without-saga",
                prefix,
                f"{len(holding)} row(s) holding a seat or money under keys of no saga",
            )
    return report


def _label(saga: Saga) -> str:
    if saga.running:
        return f"RUNNING ({saga.status})" if saga.status != SagaStatus.RUNNING else "RUNNING"
    return saga.status or "(no status)"


def _by_saga(
    rows: list[dict[str, Any]], key_prefixes: tuple[str, ...]
) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        key: str = row.get("idempotency_key", "")
        if key.startswith(key_prefixes) and ":" in key:
            grouped[key.rsplit(":", 1)[0] + ":"].append(row)
    return grouped


def _check_courses(
    report: Report, courses: list[dict[str, Any]], enrollments: list[dict[str, Any]]
) -> None:
    held = Counter(row["course_id"] for row in enrollments if row["status"] in HELD_SEAT)
    for course in courses:
        course_id = course["course_id"]
        if course["seats_taken"] != held[course_id]:
            report.add(
                "seats-miscounted",
                course_id,
                f"seats_taken is {course['seats_taken']} but {held[course_id]} enrollments "
                "are PENDING or CONFIRMED",
            )
        if held[course_id] > course["capacity"]:
            report.add(
                "course-overbooked",
                course_id,
                f"{held[course_id]} seats held, capacity {course['capacity']}",
            )


def _check_money(
    report: Report,
    enrollments: list[dict[str, Any]],
    charges: list[dict[str, Any]],
    key_prefixes: tuple[str, ...],
    running: tuple[str, ...],
) -> None:
    """money-not-conserved, per student of the sagas checked here (a row under one of
    `key_prefixes`), over all their rows. A student with a row under the keys of a running
    saga (`running`: its seat, charge or refund) has money in motion and is not checked, as a
    running saga's own rows are not; on a quiet system that saga is a violation already."""
    students = {
        row["student_id"]
        for row in [*enrollments, *charges]
        if row.get("idempotency_key", "").startswith(key_prefixes)
    }
    in_motion = {
        student_id
        for student_id, key in _keys_by_student(enrollments, charges)
        if running and key.startswith(running)
    }
    owed: dict[str, Counter[str]] = defaultdict(Counter)
    for row in enrollments:
        if row["status"] == "CONFIRMED":
            owed[row["student_id"]][row["currency"]] += row["tuition_cents"]
    kept: dict[str, Counter[str]] = defaultdict(Counter)
    for charge in charges:
        kept[charge["student_id"]][charge["currency"]] += _kept_cents(charge)
    for student_id in sorted(students - in_motion):
        if _nonzero(kept[student_id]) != _nonzero(owed[student_id]):
            report.add(
                "money-not-conserved",
                f"student {student_id}",
                f"captured minus refunded is {_amounts(kept[student_id])}, the tuition of the "
                f"CONFIRMED enrollments {_amounts(owed[student_id])}",
            )


def _keys_by_student(
    enrollments: list[dict[str, Any]], charges: list[dict[str, Any]]
) -> list[tuple[str, str]]:
    """(student id, idempotency key) of every enrollment, charge and refund of a charge."""
    keys = [(row["student_id"], row.get("idempotency_key") or "") for row in enrollments]
    for charge in charges:
        keys.append((charge["student_id"], charge.get("idempotency_key") or ""))
        keys += [
            (charge["student_id"], refund.get("idempotency_key") or "")
            for refund in charge.get("refunds", [])
        ]
    return keys


def _kept_cents(charge: dict[str, Any]) -> int:
    """What a charge keeps: its amount less its refunds. A charge without `refunded_cents`
    (a billing service from before partial refunds) kept all or, once REFUNDED, nothing."""
    amount: int = charge["amount_cents"]
    if "refunded_cents" not in charge:
        return 0 if charge["status"] == "REFUNDED" else amount
    refunded: int = charge["refunded_cents"]
    return amount - refunded


def _nonzero(cents: Counter[str]) -> dict[str, int]:
    """Amounts by currency without the zeros: no money and no tuition are the same. (Not
    Counter's unary +, which would drop a negative amount too.)"""
    return {currency: amount for currency, amount in cents.items() if amount != 0}


def _amounts(cents: Counter[str]) -> str:
    shown = sorted(_nonzero(cents).items())
    return ", ".join(f"{amount} {currency}" for currency, amount in shown) or "0"


def _refund_inconsistency(charge: dict[str, Any]) -> str | None:
    """Why a charge's refunds do not add up, or None: a charge is REFUNDED exactly when it
    records its full refund (refunded_at), and refunded_cents is the sum of the refunds that
    count, never above the amount and all of it once REFUNDED."""
    refunded_at = charge.get("refunded_at")
    if (charge["status"] == "REFUNDED") != (refunded_at is not None):
        return f"charge {charge['charge_id']} is {charge['status']}, refunded_at {refunded_at}"
    if "refunded_cents" not in charge:
        return None
    amount, refunded = charge["amount_cents"], charge["refunded_cents"]
    counted = sum(
        refund["amount_cents"]
        for refund in charge.get("refunds", [])
        if refund["status"] == COUNTED_REFUND
    )
    if refunded != counted:
        return (
            f"charge {charge['charge_id']} says refunded_cents {refunded}, its refunds "
            f"add up to {counted}"
        )
    if refunded > amount or (charge["status"] == "REFUNDED" and refunded != amount):
        return (
            f"charge {charge['charge_id']} is {charge['status']} with {refunded} of its "
            f"{amount} cents refunded"
        )
    return None


def _check_ending(report: Report, saga: Saga) -> bool:
    """The rules of every saga type about how it ended; False if it has not ended."""
    subject = saga.workflow_id
    if saga.running:
        if saga.status == SagaStatus.COMPENSATION_FAILED:
            report.add(
                "saga-compensation-failed", subject, "an undo was rejected: needs an operator"
            )
        else:
            report.add("saga-still-running", subject, f"status {saga.status} on a quiet system")
        return False
    ended = saga.execution_status
    if ended not in (WorkflowExecutionStatus.COMPLETED, WorkflowExecutionStatus.CANCELED):
        name = ended.name if ended else "unknown"
        report.add("saga-ended-abnormally", subject, f"the execution ended {name}")
    if saga.status == SagaStatus.FAILED:
        report.add("saga-failed", subject, "a compensation was refused: needs an operator")
    return True


def _check_transfer(
    report: Report,
    saga: Saga,
    enrollments: list[dict[str, Any]],
    charges: list[dict[str, Any]],
    all_charges: list[dict[str, Any]],
) -> None:
    """A transfer's own rows: the new seat (its reserve key), a charge of the difference or a
    refund of it (its settlement key, on the refund). Money is checked per student anyway."""
    subject = saga.workflow_id
    if not _check_ending(report, saga):
        return
    if len(enrollments) > 1:
        report.add("double-reservation", subject, f"{len(enrollments)} enrollments")
    refunds = [
        refund
        for charge in all_charges
        for refund in charge.get("refunds", [])
        if (refund.get("idempotency_key") or "").startswith(saga.key_prefix)
        and refund["status"] == COUNTED_REFUND
    ]
    if len(charges) + len(refunds) > 1:
        report.add("double-settlement", subject, f"{len(charges)} charges, {len(refunds)} refunds")
    if saga.status == SagaStatus.COMPLETED:
        if not any(row["status"] in CONFIRMED_ONCE for row in enrollments):
            states = ", ".join(row["status"] for row in enrollments) or "none"
            report.add("completed-not-confirmed", subject, f"new enrollment status: {states}")
        return
    held = [row for row in enrollments if row["status"] in HELD_SEAT]
    if held:
        report.add(
            "seat-held-after-saga",
            subject,
            f"saga is {saga.status} but its new enrollment is {held[0]['status']}",
        )
    kept = [row for row in charges if row["status"] == "CAPTURED"]
    if kept or refunds:
        report.add(
            "settlement-not-reversed",
            subject,
            f"saga is {saga.status} but {len(kept)} charge(s) and {len(refunds)} refund(s) "
            "of its difference stand",
        )


def _check_saga(
    report: Report,
    saga: Saga,
    enrollments: list[dict[str, Any]],
    charges: list[dict[str, Any]],
    courses: dict[str, dict[str, Any]],
) -> None:
    subject = saga.workflow_id
    if not _check_ending(report, saga):
        return

    if len(enrollments) > 1:
        report.add("double-reservation", subject, f"{len(enrollments)} enrollments")
    if len(charges) > 1:
        report.add("double-charge", subject, f"{len(charges)} charges")
    enrollment_ids = {row["enrollment_id"] for row in enrollments}
    for charge in charges:
        if charge["enrollment_id"] not in enrollment_ids:
            report.add(
                "charge-without-enrollment",
                subject,
                f"charge {charge['charge_id']} for enrollment {charge['enrollment_id']}, "
                "which is not this saga's",
            )
        inconsistency = _refund_inconsistency(charge)
        if inconsistency is not None:
            report.add("refund-inconsistent", subject, inconsistency)

    held = [row for row in enrollments if row["status"] in HELD_SEAT]
    captured = [row for row in charges if row["status"] == "CAPTURED"]
    if saga.status == SagaStatus.COMPLETED:
        _check_completed(report, subject, enrollments, captured, courses)
        return
    if held:
        report.add(
            "seat-held-after-saga",
            subject,
            f"saga is {saga.status} but its enrollment is {held[0]['status']}",
        )
    if captured:
        report.add(
            "charge-not-refunded",
            subject,
            f"saga is {saga.status} but charge {captured[0]['charge_id']} is CAPTURED",
        )


def _check_completed(
    report: Report,
    subject: str,
    enrollments: list[dict[str, Any]],
    captured: list[dict[str, Any]],
    courses: dict[str, dict[str, Any]],
) -> None:
    confirmed = [row for row in enrollments if row["status"] == "CONFIRMED"]
    if not any(row["status"] in CONFIRMED_ONCE for row in enrollments):
        states = ", ".join(row["status"] for row in enrollments) or "none"
        report.add("completed-not-confirmed", subject, f"enrollment status: {states}")
    if len(captured) != 1:
        report.add(
            "completed-not-charged-once", subject, f"{len(captured)} unrefunded charges, not 1"
        )
        return
    [charge] = captured
    course = courses.get(confirmed[0]["course_id"]) if confirmed else None
    if course is not None and (charge["amount_cents"], charge["currency"]) != (
        course["tuition_cents"],
        course["currency"],
    ):
        report.add(
            "wrong-amount",
            subject,
            f"charged {charge['amount_cents']} {charge['currency']}, tuition is "
            f"{course['tuition_cents']} {course['currency']}",
        )
