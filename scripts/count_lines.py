"""Lines of code per part of each saga style, for docs/orchestration-vs-choreography.md.

    .venv/bin/python -m scripts.count_lines

"code" counts lines holding code: blank lines, comment-only lines and docstrings are left out.
"""

import ast
import io
import tokenize
from pathlib import Path

from orchestrator.process_exit import run_and_exit

ROOT = Path(__file__).resolve().parent.parent

PARTS: dict[str, dict[str, list[str]]] = {
    "orchestration": {
        "flow definition (workflow, contracts)": ["workflows/saga.py", "workflows/contracts.py"],
        "step adapters (activities, HTTP clients, error mapping, worker)": [
            "orchestrator/worker/activities.py",
            "orchestrator/clients.py",
            "orchestrator/errors.py",
            "orchestrator/worker/main.py",
            "orchestrator/temporal.py",
        ],
        "where is student X (start, query, list)": ["orchestrator/sagas.py"],
    },
    "choreography": {
        "flow definition (events, who subscribes)": [
            "choreography/events.py",
            "choreography/topology.py",
        ],
        "step adapters (service consumers)": [
            "services/enrollment/consumers.py",
            "services/billing/consumers.py",
        ],
        "broker wiring (NATS, RabbitMQ, embedded server)": [
            "choreography/bus.py",
            "choreography/config.py",
            "choreography/embedded.py",
        ],
        "delivery guarantees (outbox, inbox, runtime, timers, retention, sealing)": [
            "choreography/outbox.py",
            "choreography/inbox.py",
            "choreography/runtime.py",
            "choreography/timers.py",
            "choreography/retention.py",
            "choreography/sealing.py",
        ],
        "the step deadline (reservation expiry)": ["services/enrollment/expiry.py"],
        "where is student X (tracker, start)": ["choreography/tracker.py", "choreography/sagas.py"],
        "operations (dead letters, redrive, rebuild, retry, checker, AsyncAPI)": [
            "choreography/operations.py",
            "choreography/__main__.py",
            "choreography/asyncapi.py",
            "choreography/invariants.py",
        ],
    },
}


def code_lines(path: Path) -> int:
    source = path.read_text()
    docstring_lines: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                end = body[0].end_lineno or body[0].lineno
                docstring_lines.update(range(body[0].lineno, end + 1))
    lines: set[int] = set()
    skipped = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type in skipped or token.type == tokenize.ENDMARKER:
            continue
        lines.update(range(token.start[0], token.end[0] + 1))
    return len(lines - docstring_lines)


def main() -> None:
    for style, parts in PARTS.items():
        total = 0
        print(f"| {style} | files | code lines |")
        print("| --- | --- | --- |")
        for part, files in parts.items():
            count = sum(code_lines(ROOT / file) for file in files)
            total += count
            print(f"| {part} | {', '.join(f'`{f}`' for f in files)} | {count} |")
        print(f"| **total** | | **{total}** |\n")


if __name__ == "__main__":
    run_and_exit(main)
