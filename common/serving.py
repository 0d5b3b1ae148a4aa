"""How every HTTP process of the system is served: uvicorn on uvloop, with the httptools parser.

uvicorn's "auto" would pick both when installed and fall back silently when not; naming them
makes a missing one an error at startup. Measured: CPU per saga of the API and both services
down 16-20% (docs/benchmarks.md, tuning log).
"""

from typing import Any

import uvicorn


def serve(app: Any, host: str, port: int, **options: Any) -> None:
    uvicorn.run(app, host=host, port=port, loop="uvloop", http="httptools", **options)
