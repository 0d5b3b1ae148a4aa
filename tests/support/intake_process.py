"""The event intake as its own process (`python -m orchestrator.intake`), as `make up` would run
it, for tests that kill it or take Temporal away under it."""

import os
import signal
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from devstack.components import PER_PROCESS_VARIABLES
from devstack.processes import ManagedProcess
from devstack.readiness import http_ok
from tests.support.servers import free_port

STARTUP_TIMEOUT_SECONDS = 60.0
REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class IntakeProcess:
    env: dict[str, str]
    url: str
    output: list[str] = field(default_factory=list)
    process: ManagedProcess | None = None

    def start(self) -> None:
        self.process = ManagedProcess(
            "intake",
            [sys.executable, "-m", "orchestrator.intake"],
            self.env,
            REPO_ROOT,
            "[intake]",
            log=self.output.append,
        )
        self.process.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not http_ok(f"{self.url}/readyz"):
            if self.process.exit_code is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the intake did not start: {self.process.tail()}")
            time.sleep(0.1)

    def kill(self) -> None:
        if self.process is not None:
            self.process.send(signal.SIGKILL)
            self.process.wait(10)


@contextmanager
def intake_process(environment: Mapping[str, str]) -> Iterator[IntakeProcess]:
    """The intake with `environment` (Temporal's address, the broker, ...) on a free port."""
    port = free_port()
    inherited = {k: v for k, v in os.environ.items() if k not in PER_PROCESS_VARIABLES}
    inherited = {k: v for k, v in inherited.items() if not k.startswith("INTAKE_")}
    env = inherited | {"PYTHONUNBUFFERED": "1", "HOST": "127.0.0.1", "PORT": str(port)}
    running = IntakeProcess(env | dict(environment), f"http://127.0.0.1:{port}")
    running.start()
    try:
        yield running
    finally:
        running.kill()
