"""What the benchmark reads of the choreography tracker (bench/run.py), on a real tracker
database written by the tracker's own code."""

import time
from pathlib import Path

from bench.run import tracked_end, tracked_events, tracker_engine
from choreography import tracker
from choreography.events import SeatReserved, StudentCreated
from common.database import create_database_engine, create_tables


def test_the_bench_reads_when_a_sagas_view_last_changed_and_how_many_events_it_holds(
    tmp_path: Path,
) -> None:
    written = create_database_engine(f"sqlite:///{tmp_path / 'api.db'}")
    create_tables(written, tracker.TABLES)
    created = StudentCreated(
        student_id="stu-1", name="n", email="e", course_id="CS101", payment_token="t"
    )
    reserved = SeatReserved.following(
        created,
        enrollment_id="enr-1",
        course_id="CS101",
        tuition_cents=100,
        currency="USD",
        payment_token="t",
    )
    before = time.time()
    tracker.track_once(written, created)
    tracker.track_once(written, reserved)
    tracker.track_once(written, reserved)  # a redelivery is not an event more
    after = time.time()
    read = tracker_engine(tmp_path)

    try:
        ended = tracked_end(read, "stu-1")
        assert ended is not None
        assert before - 0.01 <= ended <= after + 0.01
        assert tracked_end(read, "stu-unknown") is None
        assert tracked_events(read, ["stu-1", "stu-unknown"]) == 2
    finally:
        read.dispose()
        written.dispose()
