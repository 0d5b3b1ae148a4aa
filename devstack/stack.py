"""The whole dev stack as one object, for `make up` and for tests:

    with Stack(DevstackSettings(api_port=..., data_dir=tmp_path)) as stack:
        ...  # Temporal, both services, the worker and the API are up and ready

Start: refuse if the data dir is another stack's or a port is taken, then start the processes
tier by tier (Temporal, the codec server, NATS; the services; the worker and the API), each
tier once the one before is ready. Stop: one process at a time in the reverse order, so no
process outlives what it depends on, nor complains about a peer that is gone. Restarting what
exits meanwhile is devstack/supervision.py's job.

Each process's pid is in DATA_DIR/pids/<name>.pid while it runs (`kill -9 $(cat
data/pids/worker.pid)` to try the supervision; `make demo-crash` finds the worker there).
"""

import fcntl
import os
import signal
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from dotenv import dotenv_values

from devstack.components import PER_PROCESS_VARIABLES, ReadinessProbe, components
from devstack.config import DevstackSettings
from devstack.processes import LogSink, ManagedProcess, print_line, stop_process
from devstack.secrets import development_secrets

POLL_SECONDS = 0.2
OWN_NAME = "devstack"


class StackError(Exception):
    """The stack cannot start, or one of its processes failed; the message says which and why."""


class StopRequested(Exception):
    """A stop was requested (Ctrl-C, SIGTERM) while the stack was still starting."""


class DependencyDown(StackError):
    """A process of an earlier tier exited while a restarted one waited to be ready."""


class Stack:
    def __init__(
        self,
        settings: DevstackSettings,
        log: LogSink = print_line,
        environment: Mapping[str, str] | None = None,
    ) -> None:
        """`environment`: what the processes inherit, os.environ if None (see components)."""
        self.settings = settings
        self.data_dir = settings.data_dir.resolve()
        self._log = log
        self._stop_requested = threading.Event()
        self._restart_lock = threading.Lock()
        self._stop_reason: str | None = None
        self._tiers: list[list[ManagedProcess]] = []
        # Taken down by kill(): left down until restart(), whoever supervises the stack.
        self._held: set[str] = set()
        self._data_dir_lock: IO[str] | None = None
        self._repo_root = Path(__file__).resolve().parent.parent
        # API_KEYS, SERVICE_TOKENS, ...: what the stack's processes expect of their callers.
        inherited = os.environ if environment is None else environment
        self.secrets = development_secrets(settings.secrets_file, self.data_dir, inherited)
        self._plan = components(settings, self.data_dir, self.secrets, inherited)
        self._label_width = max(len(OWN_NAME), *(len(c.name) for tier in self._plan for c in tier))

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def processes(self) -> list[ManagedProcess]:
        return [process for tier in self._tiers for process in tier]

    def start(self) -> None:
        """Start every process and wait until each is ready. On failure, or if a stop is
        requested meanwhile, stop what was started and raise StackError or StopRequested."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._claim_data_dir()
        self._check_ports_are_free()
        self._warn_about_dotenv()
        for tier in self._plan:
            processes = [
                ManagedProcess(
                    c.name, c.command, c.env, self._repo_root, self._label(c.name), self._log
                )
                for c in tier
            ]
            self._tiers.append(processes)
            for process in processes:
                self._launch(process)
            for process, component in zip(processes, tier, strict=True):
                self._wait_until_ready(process, component.ready)

    def _launch(self, process: ManagedProcess) -> None:
        process.start()
        pid_file = self._pid_file(process.name)
        pid_file.parent.mkdir(exist_ok=True)
        pid_file.write_text(f"{process.pid}\n")

    def _pid_file(self, name: str) -> Path:
        return self.data_dir / "pids" / f"{name}.pid"

    def process(self, name: str) -> ManagedProcess:
        for process in self.processes:
            if process.name == name:
                return process
        raise KeyError(name)

    def is_ready(self, name: str) -> bool:
        """Whether the process runs and its readiness probe says it is ready, now."""
        process = self.process(name)
        component = next(c for tier in self._plan for c in tier if c.name == name)
        return process.running and component.ready(process.pid)

    def exited(self) -> list[ManagedProcess]:
        """The processes that exited on their own (not by kill()), in start order."""
        return [
            process
            for process in self.processes
            if process.exit_code is not None and process.name not in self._held
        ]

    @property
    def stop_requested(self) -> bool:
        return self._stop_requested.is_set()

    def kill(self, name: str, grace_seconds: float = 10.0) -> None:
        """SIGKILL one process (its whole group) and wait until it is gone: a crash, for tests
        and chaos runs. The rest of the stack keeps running, and the process stays down until
        restart(name), even under a Supervisor (a `kill -9` from outside is restarted)."""
        process = self.process(name)
        self._held.add(name)
        process.send(signal.SIGKILL)
        if not process.wait(grace_seconds):
            raise StackError(f"{name} survived SIGKILL for {grace_seconds:g}s")

    def restart(self, name: str) -> ManagedProcess:
        """Start a process that exited (killed or crashed) again, with the same command and
        environment, and wait until it is ready; Temporal resumes from its database file.
        One restart at a time: a process found running was restarted by another caller.
        Raises DependencyDown if a process of an earlier tier exits on its own meanwhile (the
        restarted one keeps running, not known to be ready)."""
        with self._restart_lock:
            if self.stop_requested:
                raise StopRequested()
            self._held.discard(name)
            return self._restart(name)

    def _restart(self, name: str) -> ManagedProcess:
        for number, (tier, components_of_tier) in enumerate(
            zip(self._tiers, self._plan, strict=False)
        ):
            for index, component in enumerate(components_of_tier):
                if component.name != name:
                    continue
                if tier[index].running:
                    return tier[index]
                process = ManagedProcess(
                    name,
                    component.command,
                    component.env,
                    self._repo_root,
                    self._label(name),
                    self._log,
                )
                tier[index] = process
                self._launch(process)
                dependencies = [p for t in self._tiers[:number] for p in t if p.running]
                self._wait_until_ready(process, component.ready, dependencies)
                return process
        raise KeyError(name)

    def _wait_until_ready(
        self,
        process: ManagedProcess,
        ready: ReadinessProbe,
        dependencies: Sequence[ManagedProcess] = (),
    ) -> None:
        timeout = self.settings.startup_timeout_seconds
        started = time.monotonic()
        while not ready(process.pid):
            if self._stop_requested.is_set():
                raise StopRequested()
            for dependency in dependencies:
                if dependency.exit_code is not None and dependency.name not in self._held:
                    raise DependencyDown(dependency.name)
            if process.exit_code is not None:
                raise StackError(failure_report(process, f"{how_it_ended(process)} on startup"))
            if time.monotonic() - started > timeout:
                raise StackError(
                    failure_report(
                        process,
                        f"was not ready after {timeout:g}s (SAGA_STARTUP_TIMEOUT_SECONDS)",
                    )
                )
            self._stop_requested.wait(POLL_SECONDS)
        self.say(f"{process.name} ready after {time.monotonic() - started:.1f}s")

    def request_stop(self, reason: str = "stop requested") -> None:
        """Make start() and a Supervisor's run() return; safe from a signal handler or another
        thread."""
        self._stop_reason = reason
        self._stop_requested.set()

    def stop(self) -> None:
        """Stop every process, one at a time in reverse start order; a no-op for what is not
        running. Their shutdown output is not printed, unless one fails to stop cleanly."""
        self._stop_requested.set()  # a restart under way gives up, and none begins
        with self._restart_lock:
            running = [process for process in reversed(self.processes) if process.running]
            for process in running:
                process.mute()  # from now on, none of them speaks: each waits for its turn
            if self._stop_reason is not None and self._tiers:
                self.say(f"{self._stop_reason}: stopping")
            if running:
                self.say(f"stopping {', '.join(process.name for process in running)}")
            started = time.monotonic()
            for process in running:
                if not stop_process(process, self.settings.stop_timeout_seconds, self.say):
                    self.say(failure_report(process, f"{how_it_ended(process)} when stopped"))
            if running:
                self.say(f"stopped in {time.monotonic() - started:.1f}s")
            for process in self.processes:
                self._pid_file(process.name).unlink(missing_ok=True)
            self._tiers = []
            self._release_data_dir()

    def _label(self, name: str) -> str:
        return f"[{name:<{self._label_width}}]"

    def say(self, message: str) -> None:
        """Write a line of the stack's own, labelled [devstack]."""
        self._log(f"{self._label(OWN_NAME)} {message}")

    def _claim_data_dir(self) -> None:
        """One stack per data dir: two Temporal servers must never share one database."""
        lock = (self.data_dir / "devstack.lock").open("a+")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "unknown"
            lock.close()
            raise StackError(
                f"{self.data_dir} is in use by another dev stack (pid {holder}); stop it first"
            ) from None
        lock.truncate(0)
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        self._data_dir_lock = lock

    def _release_data_dir(self) -> None:
        if self._data_dir_lock is not None:
            self._data_dir_lock.close()  # closing releases the lock
            self._data_dir_lock = None

    def _warn_about_dotenv(self) -> None:
        """The processes also read the repository's .env, which the stack cannot filter: a
        DATABASE_URL there reaches both services unless SAGA_*_DATABASE_URL are set."""
        dotenv_file = self._repo_root / ".env"
        if not dotenv_file.is_file():
            return
        names = {name.upper() for name in dotenv_values(dotenv_file)}
        if shared := sorted(names & PER_PROCESS_VARIABLES):
            self.say(
                f"warning: {dotenv_file} sets {', '.join(shared)}, read by every process "
                "that the stack does not give its own value"
            )

    def _check_ports_are_free(self) -> None:
        host = self.settings.host
        for variable, port in self.settings.ports().items():
            if not port_is_free(host, port):
                raise StackError(
                    f"port {port} on {host} is already in use; stop what listens there "
                    f"or choose another port with {variable}"
                )


def port_is_free(host: str, port: int) -> bool:
    """Whether a server could listen on host:port. SO_REUSEADDR as the servers themselves set
    it, so connections in TIME_WAIT from a previous run do not count as taken."""
    family, kind, protocol, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    with socket.socket(family, kind, protocol) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError:
            return False
    return True


def how_it_ended(process: ManagedProcess) -> str:
    code = process.exit_code
    if code is not None and code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    return f"exited with code {code}"


def failure_report(process: ManagedProcess, what: str) -> str:
    lines = process.tail()
    report = f"{process.name} {what}."
    if not lines:
        return report + " It wrote nothing."
    return report + " Its last lines:\n" + "\n".join(f"    {line}" for line in lines)
