"""How every HTTP process of the system is served: uvicorn on uvloop, with the httptools parser.

uvicorn's "auto" would pick both when installed and fall back silently when not; naming them
makes a missing one an error at startup. Measured: CPU per saga of the API and both services
down 16-20% (docs/benchmarks.md, tuning log).
"""

from typing import Any

import uvicorn

# Longer than any client's idle keep-alive (httpx: 5 s, as uvicorn's own default): otherwise
# the server may close an idle connection just as a client reuses it, and the client's request
# fails with "Server disconnected" (seen in the test suite). Behind a load balancer, keep this
# above the balancer's idle timeout (60 s on most) for the same reason.
KEEP_ALIVE_SECONDS = 75


def serve(app: Any, host: str, port: int, **options: Any) -> None:
    """`log_config=None`: the process configured logging itself (common/logs.py), uvicorn's
    access and error lines included."""
    uvicorn.run(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        log_config=None,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        **options,
    )
