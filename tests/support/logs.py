"""The log lines of the test process, formatted as the processes do with LOG_FORMAT=json."""

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from common.logs import JsonFormatter


class JsonLines(logging.Handler):
    """Formats each record as the processes do with LOG_FORMAT=json, when it is emitted (the
    saga ids are read from the emitting context)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@contextmanager
def json_log_lines() -> Iterator[list[dict[str, Any]]]:
    """Every INFO line of this process, the services' access log included (uvicorn's access
    logger does not propagate in the test servers, so it gets the handler too)."""
    handler = JsonLines()
    loggers = [logging.getLogger(), logging.getLogger("uvicorn.access")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.INFO)
        logger.addHandler(handler)
    try:
        yield handler.lines
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)
