"""Which of a service's /_faults rules a consumer's delivery meets, and what each kind does to it
(choreography/faults.py CommandFaults), without a broker: the effect is a recording stand-in."""

from unittest.mock import Mock

import pytest

from choreography.events import Event, PaymentCaptured, SeatReserved, StudentCreated
from choreography.faults import CommandFaults, InjectedFault
from choreography.inbox import Reaction
from choreography.runtime import check_command_faults
from choreography.topology import BILLING, ENROLLMENT
from common.faults import (
    CRASH_EXIT_CODE,
    FaultKind,
    FaultRuleCreate,
    FaultStore,
    FaultyOperation,
    Operations,
)
from services.billing import consumers as billing_consumers
from services.billing.main import FAULTY_OPERATIONS as BILLING_OPERATIONS
from services.enrollment import consumers as enrollment_consumers
from services.enrollment.main import FAULTY_OPERATIONS as ENROLLMENT_OPERATIONS


def never_called() -> None:
    raise AssertionError("a route is not called by a consumer")


OPERATIONS: Operations = {
    "reserve": FaultyOperation([never_called], reactions=[StudentCreated]),
    "confirm": FaultyOperation([never_called], reactions=[PaymentCaptured]),
    "withdraw": FaultyOperation([never_called]),
}
CREATED = StudentCreated(
    student_id="stu-1", name="Ada", email="ada@example.com", course_id="CS101", payment_token="t"
)


class Effect:
    """The delivery's handling, counting its runs."""

    def __init__(self) -> None:
        self.runs = 0

    async def __call__(self) -> None:
        self.runs += 1


def armed(kind: FaultKind, operation: str = "reserve", **fields: object) -> FaultStore:
    store = FaultStore()
    store.add(FaultRuleCreate.model_validate({"operation": operation, "kind": kind, **fields}))
    return store


def hits(store: FaultStore) -> list[int]:
    return [rule.hits for rule in store.rules()]


async def test_a_crash_rule_exits_with_the_crash_code_before_the_effect() -> None:
    store = armed(FaultKind.CRASH)
    exit_mock = Mock(name="exit_process_mock")
    effect = Effect()

    await CommandFaults(store, OPERATIONS, exit_process=exit_mock).around(
        ENROLLMENT, CREATED, effect
    )

    exit_mock.assert_called_once_with(CRASH_EXIT_CODE)
    # A real exit never returns; the mock does, and still nothing was performed.
    assert effect.runs == 0
    assert hits(store) == [1]


async def test_an_error_before_commit_fails_the_delivery_without_its_effect() -> None:
    store = armed(FaultKind.ERROR_BEFORE_COMMIT, count=1)
    faults = CommandFaults(store, OPERATIONS)
    effect = Effect()

    with pytest.raises(InjectedFault, match="reserve was not performed"):
        await faults.around(ENROLLMENT, CREATED, effect)
    await faults.around(ENROLLMENT, CREATED, effect)  # the redelivery: the rule is spent

    assert effect.runs == 1
    assert hits(store) == [1]


async def test_an_error_after_commit_fails_the_delivery_once_its_effect_ran() -> None:
    store = armed(FaultKind.ERROR_AFTER_COMMIT, drop_connection=True)
    effect = Effect()

    with pytest.raises(InjectedFault, match="reserve was performed"):
        await CommandFaults(store, OPERATIONS).around(ENROLLMENT, CREATED, effect)

    assert effect.runs == 1
    assert hits(store) == [1]


async def test_latency_delays_the_effect_and_the_delivery_succeeds() -> None:
    store = armed(FaultKind.LATENCY, latency_ms=1)
    effect = Effect()

    await CommandFaults(store, OPERATIONS).around(ENROLLMENT, CREATED, effect)

    assert effect.runs == 1
    assert hits(store) == [1]


async def test_each_event_draws_from_its_own_commands_rules_only() -> None:
    store = armed(FaultKind.ERROR_BEFORE_COMMIT, operation="confirm")
    store.add(FaultRuleCreate(operation="withdraw", kind=FaultKind.CRASH))
    exit_mock = Mock(name="exit_process_mock")
    faults = CommandFaults(store, OPERATIONS, exit_process=exit_mock)
    captured = PaymentCaptured.following(CREATED, charge_id="ch-1", enrollment_id="enr-1")
    unmapped = SeatReserved.following(
        CREATED,
        enrollment_id="enr-1",
        course_id="CS101",
        tuition_cents=1,
        currency="USD",
        payment_token="t",
    )
    effect = Effect()

    await faults.around(ENROLLMENT, CREATED, effect)
    await faults.around(ENROLLMENT, unmapped, effect)
    with pytest.raises(InjectedFault):
        await faults.around(ENROLLMENT, captured, effect)

    assert effect.runs == 2
    assert exit_mock.call_count == 0
    assert hits(store) == [1, 0]  # withdraw has no reaction: its rule never drew


def test_an_event_performing_two_commands_is_refused() -> None:
    operations = {**OPERATIONS, "cancel": FaultyOperation([], reactions=[StudentCreated])}

    with pytest.raises(ValueError, match="StudentCreated performs both reserve and cancel"):
        CommandFaults(FaultStore(), operations)


def test_command_faults_on_an_event_the_consumer_does_not_react_to_are_refused_at_startup() -> None:
    faults = CommandFaults(FaultStore(), OPERATIONS)

    with pytest.raises(ValueError, match=r"\['PaymentCaptured', 'StudentCreated'\]"):
        check_command_faults(BILLING, billing_consumers.reactions(), faults)


@pytest.mark.parametrize(
    ("consumer", "reactions", "operations", "reached"),
    [
        (
            ENROLLMENT,
            enrollment_consumers.reactions(),
            ENROLLMENT_OPERATIONS,
            {"reserve", "confirm", "cancel"},
        ),
        (BILLING, billing_consumers.reactions(), BILLING_OPERATIONS, {"charge", "refund"}),
    ],
    ids=[ENROLLMENT, BILLING],
)
def test_every_reaction_of_each_service_performs_one_of_its_faulty_commands(
    consumer: str,
    reactions: dict[type[Event], Reaction],
    operations: Operations,
    reached: set[str],
) -> None:
    faults = CommandFaults(FaultStore(), operations)

    check_command_faults(consumer, reactions, faults)
    assert set(faults.event_types) == set(reactions)
    assert {name for name, operation in operations.items() if operation.reactions} == reached
