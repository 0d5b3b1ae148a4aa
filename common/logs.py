"""Structured logs: every line about a saga carries its `student_id`, `workflow_id` and `run_id`.

The three ids live in a context variable for as long as a process works on a saga: the API
binds them when it starts or retries one, the worker for each activity, and the services for
each request that carries them. They cross HTTP in the W3C `baggage` header (the worker's
HTTP clients add it), which the services read in `SagaLogContextMiddleware`; the services know
nothing of Temporal. Workflow code cannot use context variables across its deterministic event
loop, so its log calls pass the ids in `extra` and Temporal's workflow logger adds the rest.

LOG_FORMAT=json writes one JSON object per line (for a log pipeline), text a readable line with
the ids appended (the default, for `make up`'s terminal).
"""

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from common.settings import ObservabilitySettings

SAGA_FIELDS = ("student_id", "workflow_id", "run_id")
BAGGAGE_PREFIX = "saga."


@dataclass(frozen=True)
class SagaLogContext:
    """A choreographed saga has no workflow: its lines carry the student id alone."""

    student_id: str
    workflow_id: str | None = None
    run_id: str | None = None

    def fields(self) -> dict[str, str]:
        # Not dataclasses.asdict: it deep-copies, and every log line about a saga asks.
        return {name: value for name in SAGA_FIELDS if (value := getattr(self, name)) is not None}

    def baggage(self) -> str:
        """The ids as W3C baggage entries (`saga.student_id=...,...`), values percent-encoded."""
        return ",".join(
            f"{BAGGAGE_PREFIX}{name}={quote(value, safe='')}"
            for name, value in self.fields().items()
        )

    @classmethod
    def from_baggage(cls, header: str) -> "SagaLogContext | None":
        """The ids from a `baggage` header; None without a student id."""
        found: dict[str, str] = {}
        for member in header.split(","):
            key, _, value = member.partition(";")[0].partition("=")
            name = key.strip().removeprefix(BAGGAGE_PREFIX)
            if key.strip().startswith(BAGGAGE_PREFIX) and name in SAGA_FIELDS:
                found[name] = unquote(value.strip())
        if "student_id" not in found:
            return None
        return cls(**found)


_current_saga: ContextVar[SagaLogContext | None] = ContextVar("saga_log_context", default=None)


def current_saga() -> SagaLogContext | None:
    return _current_saga.get()


def bind_saga(saga: SagaLogContext) -> None:
    """Tag every log line from here to the end of the current task (or thread context)."""
    _current_saga.set(saga)


@contextmanager
def saga_logging(saga: SagaLogContext) -> Iterator[None]:
    """Tag every log line written inside the block."""
    token = _current_saga.set(saga)
    try:
        yield
    finally:
        _current_saga.reset(token)


class SagaLogContextMiddleware:
    """Binds the saga ids a request carries in its `baggage` header (pure ASGI: the context
    variable is then set for the whole request, access log line included)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        baggage = Headers(scope=scope).get("baggage") if scope["type"] == "http" else None
        saga = SagaLogContext.from_baggage(baggage) if baggage else None
        if saga is None:
            await self.app(scope, receive, send)
            return
        with saga_logging(saga):
            await self.app(scope, receive, send)


def saga_fields(record: logging.LogRecord) -> dict[str, str]:
    """The saga ids of a log record: passed in `extra`, else bound in the context, else those
    Temporal's workflow and activity loggers add (which lack the student id)."""
    fields = {name: getattr(record, name) for name in SAGA_FIELDS if hasattr(record, name)}
    bound = current_saga()
    if bound is not None:
        fields = bound.fields() | fields
    workflow = getattr(record, "temporal_workflow", None) or {}
    activity = getattr(record, "temporal_activity", None) or {}
    temporal = {
        "workflow_id": workflow.get("workflow_id") or activity.get("workflow_id"),
        "run_id": workflow.get("run_id") or activity.get("workflow_run_id"),
    }
    return {name: value for name, value in temporal.items() if value} | fields


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, the saga ids
    when there are any, and the exception's traceback when one is attached."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **saga_fields(record),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = saga_fields(record)
        if not fields:
            return text
        return f"{text} [{' '.join(f'{name}={value}' for name, value in fields.items())}]"


def configure_logging(settings: ObservabilitySettings) -> None:
    """Root handler on stderr in the chosen format; called once by each process's entry point
    (never at import). Uvicorn is then run with `log_config=None`, so its access and error
    lines go through this handler too."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else TextFormatter())
    logging.basicConfig(level=settings.log_level, handlers=[handler], force=True)
