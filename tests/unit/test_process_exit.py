"""Leaving a process that held a Temporal client: os._exit, but nothing unsaid."""

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]

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


# The packages whose commands may load the Temporal SDK; the services and the choreography never
# do (import-linter's contract "... never import temporalio" in pyproject.toml).
MAY_LOAD_THE_SDK = ("bench", "devstack", "orchestrator", "scripts")


def test_every_command_that_may_load_the_sdk_leaves_through_run_and_exit() -> None:
    blocks = dict(main_blocks(MAY_LOAD_THE_SDK))

    assert len(blocks) >= 10  # the scan found the commands it is about
    assert {
        path: ast.unparse(ast.Module(body=block, type_ignores=[]))
        for path, block in blocks.items()
        if not runs_and_exits(block)
    } == {}


def main_blocks(packages: tuple[str, ...]) -> Iterator[tuple[str, list[ast.stmt]]]:
    for package in packages:
        for path in sorted((REPOSITORY / package).rglob("*.py")):
            for node in ast.parse(path.read_text()).body:
                if isinstance(node, ast.If) and ast.unparse(node.test) == "__name__ == '__main__'":
                    yield str(path.relative_to(REPOSITORY)), node.body


def runs_and_exits(block: list[ast.stmt]) -> bool:
    match block:
        case [ast.Expr(value=ast.Call(func=ast.Name(id="run_and_exit")))]:
            return True
    return False
