"""Interleaved rounds (bench/pairs.py): the order of each round, and each ratio's median and
range over the rounds."""

from typing import Any

import pytest

from bench.pairs import Spread, over_rounds, round_orders


def test_each_round_runs_the_modes_in_the_reverse_order_of_the_last() -> None:
    assert round_orders(["A", "B", "C"], 3) == [["A", "B", "C"], ["C", "B", "A"], ["A", "B", "C"]]
    assert round_orders(["A", "B"], 1) == [["A", "B"]]


def test_a_spread_is_the_median_and_the_range_of_the_rounds_in_the_order_run() -> None:
    spread = Spread.of([0.9, 1.3, 1.0, 1.1])

    assert (spread.median, spread.low, spread.high) == (1.05, 0.9, 1.3)
    assert spread.values == (0.9, 1.3, 1.0, 1.1)
    assert spread.text() == "1.05x (0.90-1.30)"
    assert spread.json() == {"median": 1.05, "min": 0.9, "max": 1.3, "rounds": [0.9, 1.3, 1.0, 1.1]}


def test_one_round_is_shown_as_its_value_alone() -> None:
    assert Spread.of([0.94]).text() == "0.94x"


def test_a_spread_of_nothing_is_refused() -> None:
    with pytest.raises(ValueError):
        Spread.of([])


def _row(mode: str, per_second: float, p50: float, p99: float, concurrency: int = 100) -> Any:
    return {
        "mode": mode,
        "concurrency": concurrency,
        "sagas_per_second": per_second,
        "cpu_ms_per_saga_total": 40.0,
        "latency_ms": {"p50": p50, "p99": p99},
        "latency_ms_after_opening": {"p50": p50, "p99": p99 * 0.5},
    }


def test_each_ratio_and_each_modes_tail_is_gathered_over_the_rounds() -> None:
    main = [
        [_row("orchestration", 30.0, 100.0, 150.0), _row("floor", 40.0, 100.0, 120.0)],
        [_row("floor", 40.0, 100.0, 300.0), _row("orchestration", 40.0, 100.0, 200.0)],
        [_row("orchestration", 36.0, 100.0, 110.0), _row("floor", 40.0, 50.0, 100.0)],
    ]
    sweep = [
        [_row("orchestration", 10.0, 90.0, 99.0, 1), _row("floor", 10.0, 60.0, 66.0, 1)],
        [_row("floor", 10.0, 50.0, 55.0, 1), _row("orchestration", 10.0, 100.0, 110.0, 1)],
        [_row("orchestration", 10.0, 60.0, 66.0, 1), _row("floor", 10.0, 60.0, 66.0, 1)],
    ]

    summary = over_rounds(main, sweep)

    floor = summary.ratios["orchestration/floor"]
    assert floor["throughput"].values == (0.75, 1.0, 0.9)
    assert (floor["throughput"].median, floor["throughput"].low) == (0.9, 0.75)
    assert floor["p50"].values == (1.0, 1.0, 2.0)
    assert floor["p50 at c=1"].values == (1.5, 2.0, 1.0)
    assert floor["cpu_per_saga"].median == 1.0
    assert summary.tails["orchestration"].values == (1.5, 2.0, 1.1)
    assert summary.tails["floor"].median == 2.0
    assert summary.tails_after_opening["orchestration"].values == (0.75, 1.0, 0.55)
    assert set(summary.json()["ratios"]) == {"orchestration/floor"}


def test_a_row_from_before_the_opening_burst_was_measured_adds_no_such_tail() -> None:
    row = _row("orchestration", 30.0, 100.0, 150.0)
    del row["latency_ms_after_opening"]

    summary = over_rounds([[row]], [[]])

    assert summary.tails["orchestration"].values == (1.5,)
    assert summary.tails_after_opening == {}
