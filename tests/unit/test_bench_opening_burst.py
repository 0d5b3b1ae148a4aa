"""The benchmark's latencies without the opening burst (bench/report.py): a run admits its first
`concurrency` sagas at once, and the last of them wait for all of the burst's starts."""

from bench.report import after_opening, summary
from bench.run import Mode, RunResult, SagaRecord


def _record(number: int, started: float, latency: float) -> SagaRecord:
    return SagaRecord(f"s{number}", "success", "COMPLETED", started, started + latency)


def test_the_first_sagas_to_start_are_left_out_whatever_order_they_ended_in() -> None:
    burst = [_record(number, 0.0, 4.0) for number in range(3)]
    later = [_record(3 + number, 1.0 + number, 1.0) for number in range(4)]
    result = RunResult(Mode.ORCHESTRATION, 3, [*later, *burst], wall_seconds=6.0)

    assert after_opening(result) == later
    row = summary(result)
    assert row["latency_ms"]["max"] == 4000.0
    assert row["latency_ms_after_opening"] == {
        "p50": 1000.0,
        "p95": 1000.0,
        "p99": 1000.0,
        "max": 1000.0,
    }


def test_a_run_no_longer_than_its_burst_keeps_every_saga() -> None:
    records = [_record(number, 0.0, 1.0 + number) for number in range(2)]
    result = RunResult(Mode.FLOOR, 5, records, wall_seconds=3.0)

    assert after_opening(result) == records
