"""`make bench` end to end on a tiny workload: it runs every mode on real stacks and writes
its report. Only the shape of the report is checked; its figures are the benchmark's business."""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]


def _bench(out: Path, *options: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "bench", *options, "--out", str(out)],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    [record_file] = out.glob("*.json")
    return dict(json.loads(record_file.read_text()))


def test_the_benchmark_runs_every_mode_and_writes_json_markdown_and_plots(tmp_path: Path) -> None:
    tiny = ["--sagas", "20", "--concurrency", "5", "--sweep", "2", "--sweep-sagas", "4"]
    # Two saga workers, then 10 sagas parked at the charge and drained.
    tiny += ["--workers", "2", "--park", "10"]
    result = subprocess.run(
        [sys.executable, "-m", "bench", *tiny, "--warmup", "2", "--out", str(tmp_path)],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    [record_file] = tmp_path.glob("*.json")
    record = json.loads(record_file.read_text())
    main = {row["mode"]: row for row in record["main"]}
    assert set(main) == {"orchestration", "choreography", "floor", "floor-local"}
    # 20 students: 16 succeed, 2 are declined, 1 asks for a full course, 1 is not confirmed.
    assert main["orchestration"]["statuses"] == {"COMPLETED": 16, "COMPENSATED": 4}
    assert main["choreography"]["statuses"] == {"COMPLETED": 16, "COMPENSATED": 4}
    # StudentCreated, SeatReserved, PaymentCaptured, EnrollmentConfirmed for a success;
    # ..., PaymentCaptured, EnrollmentConfirmationFailed, PaymentRefunded, EnrollmentCancelled.
    assert main["choreography"]["broker_messages_per_saga"]["success"] == 4
    assert main["choreography"]["broker_messages_per_saga"]["confirm_failure"] == 6
    assert main["floor"]["statuses"] == {"COMPLETED": 20}
    assert main["floor-local"]["statuses"] == {"COMPLETED": 20}
    # Three activity tasks against three markers: the local floor has the orchestration's shape.
    assert main["floor"]["history_events_per_saga"] == {"success": 23}
    assert main["floor-local"]["history_events_per_saga"]["success"] < 23
    # A floor costs Temporal and its own worker; the floor worker is idle outside the floors.
    floor_cpu = main["floor-local"]["cpu_ms_per_saga"]
    assert main["floor-local"]["cpu_ms_per_saga_total"] == pytest.approx(
        floor_cpu["temporal"] + floor_cpu["floor-worker"], abs=0.02
    )
    assert all(row["unexpected_outcomes"] == 0 for row in record["main"])
    outcomes = {"success", "declined", "course_full", "confirm_failure"}
    assert main["orchestration"]["history_events_per_saga"].keys() == outcomes
    assert main["orchestration"]["latency_ms_by_outcome"].keys() == outcomes
    success = main["orchestration"]["latency_ms_by_outcome"]["success"]
    assert 0 < success["p50"] <= success["p99"] <= main["orchestration"]["latency_ms"]["max"]
    # A second saga worker process ran alongside the first (and was measured).
    assert "worker-2" in main["orchestration"]["cpu_ms_per_saga"]
    assert all(row["cpu_ms_per_saga"]["temporal"] > 0 for row in record["main"])
    assert [(row["mode"], row["concurrency"]) for row in record["sweep"]] == [
        ("orchestration", 2),
        ("choreography", 2),
        ("floor", 2),
        ("floor-local", 2),
    ]
    assert record["park"]["confirmed"] == 10
    assert record["park"]["parked_rss_mb"]["temporal"] > 0
    assert len(list(tmp_path.glob("*.png"))) == 2
    table = record_file.with_suffix(".md").read_text()
    for other in ("floor", "floor-local", "choreography"):
        assert f"orchestration/{other}: throughput" in table
    assert "Latency by expected outcome" in table


def test_interleaved_rounds_alternate_the_modes_order_and_report_each_ratios_median_and_range(
    tmp_path: Path,
) -> None:
    tiny = ["--sagas", "6", "--concurrency", "3", "--sweep", "1", "--sweep-sagas", "2"]
    modes = ["--modes", "orchestration,floor-local", "--pairs", "2", "--warmup", "1"]

    record = _bench(tmp_path, *tiny, *modes)

    assert [(row["round"], row["mode"]) for row in record["main"]] == [
        (1, "orchestration"),
        (1, "floor-local"),
        (2, "floor-local"),
        (2, "orchestration"),
    ]
    assert record["pairs"]["orders"] == [
        ["orchestration", "floor-local"],
        ["floor-local", "orchestration"],
    ]
    ratios = record["pairs"]["ratios"]["orchestration/floor-local"]
    assert set(ratios) == {"throughput", "cpu_per_saga", "p50", "p50 at c=1"}
    throughput = ratios["throughput"]
    assert len(throughput["rounds"]) == 2
    assert throughput["min"] <= throughput["median"] <= throughput["max"]
    assert set(record["pairs"]["p99_over_p50"]) == {"orchestration", "floor-local"}
    table = next(tmp_path.glob("*.md")).read_text()
    assert "Over 2 interleaved rounds, median (min-max):" in table
    assert "orchestration/floor-local: throughput" in table
