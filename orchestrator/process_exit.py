"""Ending a process that held a Temporal client.

Such a process can abort at interpreter exit while the SDK's runtime threads are finalized
(temporalio/sdk-python#300; seen here in 4 of 20 runs of a command, in CI as the worker "killed
by SIGABRT when stopped" after its clean "worker stopped", and as `make demo-crash` ending with
"Fatal Python error: PyGILState_Release" after its last line): the work is done, but the exit
code becomes a crash. So every command and long-running process of bench/, devstack/,
orchestrator/ and scripts/ (the packages that may load the SDK) runs its entry point through
`run_and_exit`: once it has returned, the output is flushed and the process leaves with
`os._exit`, skipping interpreter teardown, with the exit code it chose
(tests/unit/test_process_exit.py holds every `__main__` block to this). The services and the
choreography never load the SDK (import-linter's contract), so they end as usual.
"""

import atexit
import os
import sys
from collections.abc import Callable
from typing import NoReturn


def run_and_exit(entry_point: Callable[[], object]) -> NoReturn:
    """Run a command (a `main` returning its exit code or None, or a Typer app) and leave with
    its exit code, as `sys.exit(main())` would, but without interpreter teardown."""
    try:
        returned = entry_point()
        code = returned if isinstance(returned, int) else 0
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
