"""A service as its own process (`python -m services.<name>`), as `make up` runs it, for tests
that need to crash it, kill it or restart it. Started with devstack's own components."""

import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from devstack.components import PER_PROCESS_VARIABLES, Component, service
from devstack.config import DevstackSettings
from devstack.processes import ManagedProcess
from tests.support.credentials import TEST_SERVICE_TOKEN
from tests.support.servers import free_port

STARTUP_TIMEOUT_SECONDS = 60.0
REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class ServiceProcess:
    component: Component
    url: str
    process: ManagedProcess | None = None

    def start(self) -> None:
        self.process = ManagedProcess(
            self.component.name,
            self.component.command,
            self.component.env,
            REPO_ROOT,
            f"[{self.component.name}]",
            log=lambda _line: None,
        )
        self.process.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not self.component.ready(self.process.pid):
            if self.process.exit_code is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.component.name} did not start: {self.process.tail()}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None:
            self.process.send(signal.SIGKILL)
            self.process.wait(10)


@contextmanager
def service_process(
    name: str, data_dir: Path, fault_injection: bool = True
) -> Iterator[ServiceProcess]:
    """`python -m services.<name>` on a free port with its SQLite file in `data_dir`, wanting
    TEST_SERVICE_TOKEN for every write."""
    port = free_port()
    settings = DevstackSettings(fault_injection=fault_injection)
    inherited = {k: v for k, v in os.environ.items() if k not in PER_PROCESS_VARIABLES}
    inherited["SERVICE_TOKENS"] = TEST_SERVICE_TOKEN
    component = service(name, port, None, settings, data_dir, inherited)
    running = ServiceProcess(component, f"http://{settings.host}:{port}")
    running.start()
    try:
        yield running
    finally:
        running.stop()
