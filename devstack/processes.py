"""One child process of the dev stack: started in its own process group, its output prefixed
with its name, the last lines kept for error messages, stopped with SIGTERM then SIGKILL.

The own process group keeps a terminal's Ctrl-C away from the children, so the dev stack alone
decides the order they stop in.

Once the stack asks a process to stop, its output is no longer printed, only kept in its tail:
what a server says while it shuts down is noise (the Temporal dev server alone writes a dozen
"Failed to poll for task ... graceful_stop" warnings about its own internal workers), and a
process that does not stop cleanly is reported with those last lines anyway.
"""

import contextlib
import os
import signal
import subprocess
import sys
import threading
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
        self._muted = False

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
            if not self._muted:
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

    def mute(self) -> None:
        """Keep its output in the tail only, no longer print it."""
        self._muted = True

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


# How a process may end when the stack stops it: it exited by itself after SIGTERM, or died of
# it (no handler), as a shell reports the latter (128 + 15).
CLEAN_STOP_CODES = frozenset({0, -signal.SIGTERM, 128 + signal.SIGTERM})


def stop_process(process: ManagedProcess, grace_seconds: float, say: LogSink) -> bool:
    """Mute it, SIGTERM it, wait up to `grace_seconds`, then SIGKILL it. True if it stopped
    cleanly: exited by itself on SIGTERM with a status that says all went well (one that
    exited before its turn counts by its status too)."""
    if not process.started:
        return True
    process.mute()
    process.send(signal.SIGTERM)
    if process.wait(grace_seconds):
        return process.exit_code in CLEAN_STOP_CODES
    say(f"{process.name} ignored SIGTERM for {grace_seconds:g}s: SIGKILL")
    process.send(signal.SIGKILL)
    process.wait(grace_seconds)
    return False
