"""CPU of the three use cases a successful saga runs in the services (reserve a seat, charge,
confirm), called in this process on SQLite files, no HTTP: what a change to the services'
database path saves, below what the saga benchmark resolves (tuning log, docs/benchmarks.md).

    cd <tree> && <repo>/.venv/bin/python -m scripts.use_case_cpu [--calls N] [--rounds R]

Run it from each tree in turn, several times: the figures of one run move by a tenth on a
shared machine, so compare runs alternated side by side, never against another hour's.
"""

import argparse
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from sqlmodel import Session

from common.database import create_database_engine, create_tables
from orchestrator.process_exit import run_and_exit
from services.billing import models as billing_models
from services.billing import service as billing
from services.enrollment import models as enrollment_models
from services.enrollment import service as enrollment

WARMUP_CALLS = 200


def cpu_us_per_call(call: Callable[[], object], calls: int) -> float:
    for _ in range(WARMUP_CALLS):
        call()
    started = time.process_time()
    for _ in range(calls):
        call()
    return 1e6 * (time.process_time() - started) / calls


def measure(data_dir: Path, calls: int) -> dict[str, float]:
    enrollments = create_database_engine(f"sqlite:///{data_dir}/enrollment.db")
    charges = create_database_engine(f"sqlite:///{data_dir}/billing.db")
    create_tables(enrollments, enrollment_models.TABLES)
    create_tables(charges, billing_models.TABLES)
    with Session(enrollments) as session:
        enrollment.seed_catalogue(session)
    held: list[str] = []

    def reserve() -> None:
        request = enrollment_models.EnrollmentCreate(student_id="probe", course_id="CS101")
        with Session(enrollments, expire_on_commit=False) as session:
            held_seat, _ = enrollment.reserve_seat(session, request, str(uuid.uuid4()), "f")
        held.append(held_seat.enrollment_id)

    def confirm() -> None:
        with Session(enrollments, expire_on_commit=False) as session:
            enrollment.confirm_enrollment(session, held.pop())

    def charge() -> None:
        request = billing_models.ChargeCreate(
            student_id="probe",
            enrollment_id=str(uuid.uuid4()),
            amount_cents=120_000,
            currency="USD",
            payment_token="tok_visa",
        )
        with Session(charges, expire_on_commit=False) as session:
            billing.create_charge(session, request, str(uuid.uuid4()), "f")

    # The reservations (warm-up ones included) hold the seats the confirmations then confirm.
    figures = {"reserve": cpu_us_per_call(reserve, calls)}
    figures["confirm"] = cpu_us_per_call(confirm, calls)
    figures["charge"] = cpu_us_per_call(charge, calls)
    enrollments.dispose()
    charges.dispose()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=1)
    arguments = parser.parse_args()
    for _ in range(arguments.rounds):
        with tempfile.TemporaryDirectory(prefix="use-case-cpu-") as data_dir:
            figures = measure(Path(data_dir), arguments.calls)
        total = sum(figures.values())
        print(
            " ".join(f"{name} {us:.0f} us" for name, us in figures.items())
            + f"; a saga's three: {total / 1000:.2f} ms"
        )


if __name__ == "__main__":
    run_and_exit(main)
