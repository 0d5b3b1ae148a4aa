"""Which fault rule fires for a request (common/faults.py FaultStore), without any server."""

import random

import pytest
from pydantic import ValidationError

from common.faults import FaultKind, FaultRuleCreate, FaultStore


def rule(
    operation: str = "charge", kind: FaultKind = FaultKind.ERROR_BEFORE_COMMIT, **fields: object
) -> FaultRuleCreate:
    return FaultRuleCreate.model_validate({"operation": operation, "kind": kind, **fields})


def test_a_rule_fires_only_for_its_own_operation() -> None:
    store = FaultStore()
    store.add(rule("charge"))

    assert store.draw("refund") is None
    fired = store.draw("charge")
    assert fired is not None and fired.kind is FaultKind.ERROR_BEFORE_COMMIT


def test_a_counted_rule_stops_firing_after_its_count_and_reports_its_hits() -> None:
    store = FaultStore()
    store.add(rule(count=2))

    draws = [store.draw("charge") for _ in range(4)]

    assert [fired is not None for fired in draws] == [True, True, False, False]
    [listed] = store.rules()
    assert listed.hits == 2


def test_the_first_matching_rule_wins_and_the_next_takes_over_once_it_is_exhausted() -> None:
    store = FaultStore()
    store.add(rule(kind=FaultKind.LATENCY, latency_ms=10, count=1))
    store.add(rule(kind=FaultKind.ERROR_AFTER_COMMIT))

    kinds = [fired.kind for fired in (store.draw("charge"), store.draw("charge")) if fired]

    assert kinds == [FaultKind.LATENCY, FaultKind.ERROR_AFTER_COMMIT]


def test_a_probability_fires_about_that_share_of_requests() -> None:
    store = FaultStore(random.Random(4))
    store.add(rule(probability=0.3))

    fired = sum(store.draw("charge") is not None for _ in range(2000))

    assert 500 <= fired <= 700
    assert store.rules()[0].hits == fired


def test_a_rule_that_loses_its_roll_lets_the_next_rule_try() -> None:
    store = FaultStore(random.Random(1))
    store.add(rule(probability=0.0))
    store.add(rule(kind=FaultKind.CRASH))

    fired = store.draw("charge")

    assert fired is not None and fired.kind is FaultKind.CRASH
    assert [listed.hits for listed in store.rules()] == [0, 1]


def test_rules_can_be_removed_one_by_one_with_their_final_hits_or_all_at_once() -> None:
    store = FaultStore()
    first = store.add(rule("charge"))
    store.add(rule("refund"))
    store.add(rule("refund"))

    store.draw("charge")
    removed = store.remove(first.rule_id)
    assert removed is not None and (removed.rule_id, removed.hits) == (first.rule_id, 1)
    assert store.remove(first.rule_id) is None
    assert store.draw("charge") is None
    store.clear()
    assert store.rules() == []
    assert store.draw("refund") is None


def test_a_latency_rule_needs_a_duration_and_probabilities_stay_within_zero_and_one() -> None:
    with pytest.raises(ValidationError, match="latency_ms"):
        rule(kind=FaultKind.LATENCY)
    with pytest.raises(ValidationError):
        rule(probability=1.5)
    with pytest.raises(ValidationError):
        rule(count=0)
