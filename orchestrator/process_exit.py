"""Ending a process that held a Temporal client.

Such a process can abort at interpreter exit while the SDK's runtime threads are finalized
(temporalio/sdk-python#300; seen here in 4 of 20 runs of a command, and once in CI as the worker
"killed by SIGABRT when stopped" after its clean "worker stopped"): the work is done, but the
exit code becomes a crash. So the commands and the long-running processes (worker, API, intake),
once they have stopped, flush their output and leave with `os._exit`, skipping interpreter
teardown, with the exit code they chose.
"""

import atexit
import os
import sys
from typing import NoReturn

import typer


def run_and_exit(app: typer.Typer) -> NoReturn:
    try:
        app()
        code = 0
    except SystemExit as exit_:
        code = _exit_code(exit_.code)
    exit_now(code)


def exit_now(code: int = 0) -> NoReturn:
    """Leave without interpreter teardown, once everything that must be said is written: the
    exit handlers still run (logging's flush, the tracer providers' last batch of spans)."""
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _exit_code(code: object) -> int:
    if code is None or isinstance(code, int):
        return code or 0
    print(code, file=sys.stderr)  # what sys.exit would have printed at interpreter exit
    return 1
