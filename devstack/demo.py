"""`python -m devstack.demo` (`make demo`): one saga per outcome, against a running stack.

    succeeds       CS101, card tok_visa       COMPLETED
    card declined  CS101, card tok_declined   COMPENSATED, failed at charge_tuition
    course full    SEM1 once it is full       COMPENSATED, failed at reserve_seat

SEM1 has 2 seats, and taken seats stay taken across runs (the services keep their databases).
So that every saga's outcome is known before it starts, on the first run as on the tenth, the
demo reads SEM1's free seats from the enrollment service, fills them with one tok_visa saga
each (expected COMPLETED), waits for those to finish, and only then starts the course-full one.

Exit status 0 if every saga ended as expected, 1 otherwise or if the stack is unreachable.
Settings: SAGA_API_URL (default http://127.0.0.1:8000) and SAGA_HOST/SAGA_ENROLLMENT_PORT
for the enrollment service, as for `make up` (see devstack.config).
"""

import sys
import time
import uuid
from dataclasses import dataclass
from itertools import count

import httpx

from devstack.config import DevstackSettings
from orchestrator.config import ApiClientSettings
from orchestrator.process_exit import run_and_exit
from sagas import TERMINAL_STATUSES, SagaStatus
from workflows.contracts import SagaState, Step

FULL_COURSE = "SEM1"
POLL_SECONDS = 0.5
# Longer than a saga can take: the step deadline (120 s) plus its compensations.
SAGA_TIMEOUT_SECONDS = 180.0
HTTP_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Scenario:
    label: str
    course_id: str
    payment_token: str
    expected_status: SagaStatus
    expected_failed_step: Step | None = None

    @property
    def expected(self) -> str:
        if self.expected_failed_step is None:
            return self.expected_status.value
        return f"{self.expected_status.value} at {self.expected_failed_step.value}"


SUCCEEDS = Scenario("succeeds", "CS101", "tok_visa", SagaStatus.COMPLETED)
CARD_DECLINED = Scenario(
    "card declined", "CS101", "tok_declined", SagaStatus.COMPENSATED, Step.CHARGE_TUITION
)
FILLS_A_SEAT = Scenario(
    f"fills a {FULL_COURSE} seat", FULL_COURSE, "tok_visa", SagaStatus.COMPLETED
)
COURSE_FULL = Scenario(
    "course full", FULL_COURSE, "tok_visa", SagaStatus.COMPENSATED, Step.RESERVE_SEAT
)


@dataclass
class Saga:
    scenario: Scenario
    student_id: str
    temporal_ui_url: str
    state: SagaState | None = None

    @property
    def finished(self) -> bool:
        return self.state is not None and self.state.status in TERMINAL_STATUSES

    @property
    def as_expected(self) -> bool:
        return (
            self.state is not None
            and self.state.status == self.scenario.expected_status
            and self.state.failed_step == self.scenario.expected_failed_step
        )


class Demo:
    def __init__(self, api: httpx.Client, enrollment: httpx.Client) -> None:
        self._api = api
        self._enrollment = enrollment
        self._run = uuid.uuid4().hex[:6]
        self._numbers = count(1)

    def run(self) -> list[Saga]:
        free_seats = self.seats_available(FULL_COURSE)
        print(f"{FULL_COURSE} has {free_seats} free seat(s); filling them before the full case.")
        first = self.run_to_the_end([SUCCEEDS, CARD_DECLINED] + [FILLS_A_SEAT] * free_seats)
        return first + self.run_to_the_end([COURSE_FULL])

    def seats_available(self, course_id: str) -> int:
        response = self._enrollment.get(f"/courses/{course_id}")
        response.raise_for_status()
        seats: int = response.json()["seats_available"]
        return seats

    def run_to_the_end(self, scenarios: list[Scenario]) -> list[Saga]:
        sagas = [self.start(scenario) for scenario in scenarios]
        deadline = time.monotonic() + SAGA_TIMEOUT_SECONDS
        while not all(saga.finished for saga in sagas) and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
            for saga in sagas:
                if not saga.finished:
                    saga.state = self.read_state(saga.student_id) or saga.state
        return sagas

    def start(self, scenario: Scenario) -> Saga:
        number = next(self._numbers)
        student_id = f"demo-{self._run}-{number}"
        response = self._api.post(
            "/students",
            json={
                "student_id": student_id,
                "name": f"Demo Student {number}",
                "email": f"{student_id}@example.com",
                "course_id": scenario.course_id,
                "payment_token": scenario.payment_token,
            },
            headers={"Content-Type": "application/json"},
        )
        response.raise_for_status()
        print(f"started {student_id:<16} {scenario.label} ({scenario.expected} expected)")
        return Saga(scenario, student_id, response.json()["temporal_ui_url"])

    def read_state(self, student_id: str) -> SagaState | None:
        """The saga's status; None while it cannot be read (503: e.g. no worker yet)."""
        response = self._api.get(f"/sagas/{student_id}")
        if response.status_code == httpx.codes.SERVICE_UNAVAILABLE:
            return None
        response.raise_for_status()
        return SagaState.model_validate(response.json())


def table(sagas: list[Saga]) -> str:
    rows = [
        ("student", "scenario", "expected", "final status", "ok", "failure reason", "Temporal UI")
    ]
    for saga in sagas:
        state = saga.state
        final = "(not finished)" if state is None else state.status.value
        if state is not None and state.failed_step is not None:
            final += f" at {state.failed_step}"
        reason = (state.failure_reason if state else None) or "-"
        ok = "yes" if saga.as_expected else "NO"
        scenario = saga.scenario
        rows.append(
            (
                saga.student_id,
                scenario.label,
                scenario.expected,
                final,
                ok,
                reason,
                saga.temporal_ui_url,
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def main() -> int:
    settings = DevstackSettings()
    # SAGA_API_KEY, from the environment or the .env that `make up` writes.
    api_headers = ApiClientSettings().headers()
    try:
        with (
            httpx.Client(
                base_url=settings.demo_api_url, headers=api_headers, timeout=HTTP_TIMEOUT_SECONDS
            ) as api,
            httpx.Client(base_url=settings.enrollment_url, timeout=HTTP_TIMEOUT_SECONDS) as seats,
        ):
            sagas = Demo(api, seats).run()
    except httpx.TransportError as error:
        print(f"demo: cannot reach the stack ({error}); is `make up` running?", file=sys.stderr)
        return 1
    except httpx.HTTPStatusError as error:
        print(f"demo: {error}\n{error.response.text}", file=sys.stderr)
        return 1
    print()
    print(table(sagas))
    unexpected = [saga for saga in sagas if not saga.as_expected]
    print()
    if unexpected:
        print(f"{len(unexpected)} of {len(sagas)} sagas did not end as expected.")
        return 1
    print(f"All {len(sagas)} sagas ended as expected.")
    return 0


if __name__ == "__main__":
    run_and_exit(main)
