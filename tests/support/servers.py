"""Real HTTP servers for tests: an ASGI app served by uvicorn on a free loopback port."""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.types import ASGIApp

from devstack.config import free_ports


def free_port() -> int:
    (port,) = free_ports(1)
    return port


@contextmanager
def serve_in_thread(app: ASGIApp, startup_timeout: float = 20.0) -> Iterator[str]:
    """Serve `app` over real HTTP in a background thread; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
