"""Leaving a process that held a Temporal client: os._exit, but nothing unsaid."""

import subprocess
import sys

CHILD = """
import atexit, logging, sys
from orchestrator.process_exit import exit_now
logging.basicConfig(stream=sys.stderr, format="%(message)s")
atexit.register(lambda: print("exit handler ran", flush=True))
print("buffered line")
logging.getLogger("child").warning("last log line")
exit_now(3)
print("never printed")
"""


def test_exit_now_keeps_the_exit_code_runs_the_exit_handlers_and_flushes_the_output() -> None:
    child = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=60
    )

    assert child.returncode == 3
    assert child.stdout == "buffered line\nexit handler ran\n"
    assert "last log line" in child.stderr
