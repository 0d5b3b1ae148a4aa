"""Ending a short-lived command that held a Temporal client.

Such a process can abort at interpreter exit while the SDK's runtime threads are finalized
(temporalio/sdk-python#300; seen here in 4 of 20 runs): the command's work is done, but the
exit code becomes a crash. So the commands flush their output and leave with `os._exit`,
skipping interpreter teardown, with the exit code the command chose.
"""

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
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _exit_code(code: object) -> int:
    if code is None or isinstance(code, int):
        return code or 0
    print(code, file=sys.stderr)  # what sys.exit would have printed at interpreter exit
    return 1
