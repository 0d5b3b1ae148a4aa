"""One child process of the dev stack: started in its own process group, its output prefixed
with its name, the last lines kept for error messages, stopped with SIGTERM then SIGKILL.

The own process group keeps a terminal's Ctrl-C away from the children, so the dev stack alone
decides the order they stop in.
"""

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path

LogSink = Callable[[str], None]
TAIL_LINES = 25

_print_lock = threading.Lock()


def print_line(line: str) -> None:
    """Write one whole line to stdout; lines of different processes never interleave."""
    with _print_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


class ManagedProcess:
    def __init__(
        self,
        name: str,
        command: Sequence[str],
        env: dict[str, str],
        cwd: Path,
        label: str,
        log: LogSink = print_line,
    ) -> None:
        self.name = name
        self._command = list(command)
        self._env = env
        self._cwd = cwd
        self._label = label
        self._log = log
        self._tail: deque[str] = deque(maxlen=TAIL_LINES)
        self._popen: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    def start(self) -> None:
        self._popen = subprocess.Popen(
            self._command,
            cwd=self._cwd,
            env=self._env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,
        )
        self._reader = threading.Thread(
            target=self._forward_output, name=f"devstack-{self.name}-output", daemon=True
        )
        self._reader.start()

    def _forward_output(self) -> None:
        assert self._popen is not None and self._popen.stdout is not None
        for raw_line in self._popen.stdout:
            line = raw_line.rstrip()
            self._tail.append(line)
            self._log(f"{self._label} {line}".rstrip())

    @property
    def pid(self) -> int:
        assert self._popen is not None, f"{self.name} was never started"
        return self._popen.pid

    @property
    def exit_code(self) -> int | None:
        """None while running (or never started)."""
        return None if self._popen is None else self._popen.poll()

    @property
    def started(self) -> bool:
        return self._popen is not None

    @property
    def running(self) -> bool:
        return self.started and self.exit_code is None

    def tail(self) -> list[str]:
        """The last lines of its output; all of it once the process has exited."""
        if self._reader is not None and not self.running:
            self._reader.join(timeout=2)
        return list(self._tail)

    def send(self, signum: signal.Signals) -> None:
        """Signal the whole process group, so nothing the process spawned is left behind."""
        if self.running:
            with contextlib.suppress(ProcessLookupError):  # it exited meanwhile
                os.killpg(self.pid, signum)

    def wait(self, timeout: float) -> bool:
        """True once it has exited, False if still running after `timeout` seconds."""
        if self._popen is None:
            return True
        try:
            self._popen.wait(timeout=max(timeout, 0))
        except subprocess.TimeoutExpired:
            return False
        if self._reader is not None:
            self._reader.join(timeout=2)
        return True


def stop_processes(processes: Sequence[ManagedProcess], grace_seconds: float, say: LogSink) -> None:
    """SIGTERM them all, wait up to `grace_seconds` together, then SIGKILL the stragglers."""
    for process in processes:
        process.send(signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    for process in processes:
        if not process.wait(deadline - time.monotonic()):
            say(f"{process.name} ignored SIGTERM for {grace_seconds:g}s: SIGKILL")
            process.send(signal.SIGKILL)
            process.wait(grace_seconds)
