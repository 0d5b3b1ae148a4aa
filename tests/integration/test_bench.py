"""`make bench` end to end on a tiny workload: it runs every mode on real stacks and writes
its report. Only the shape of the report is checked; its figures are the benchmark's business."""

import json
import subprocess
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]


def test_the_benchmark_runs_every_mode_and_writes_json_markdown_and_plots(tmp_path: Path) -> None:
    tiny = ["--sagas", "20", "--concurrency", "5", "--sweep", "2", "--sweep-sagas", "4"]
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
    assert set(main) == {"orchestration", "choreography", "floor"}
    # 20 students: 17 succeed, 2 are declined, 1 asks for a full course.
    assert main["orchestration"]["statuses"] == {"COMPLETED": 17, "COMPENSATED": 3}
    assert main["choreography"]["statuses"] == {"COMPLETED": 17, "COMPENSATED": 3}
    # StudentCreated, SeatReserved, PaymentCaptured, EnrollmentConfirmed for a success.
    assert main["choreography"]["broker_messages_per_saga"]["success"] == 4
    assert main["floor"]["statuses"] == {"COMPLETED": 20}
    assert all(row["unexpected_outcomes"] == 0 for row in record["main"])
    assert main["orchestration"]["history_events_per_saga"].keys() == {
        "success",
        "declined",
        "course_full",
    }
    assert all(row["cpu_ms_per_saga"]["temporal"] > 0 for row in record["main"])
    assert [(row["mode"], row["concurrency"]) for row in record["sweep"]] == [
        ("orchestration", 2),
        ("choreography", 2),
        ("floor", 2),
    ]
    assert len(list(tmp_path.glob("*.png"))) == 2
    table = record_file.with_suffix(".md").read_text()
    assert "orchestration/floor: throughput" in table
    assert "choreography/orchestration: throughput" in table
