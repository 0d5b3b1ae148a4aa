"""`python -m orchestrator`: serve the orchestrator API with uvicorn."""

import uvicorn

from orchestrator.config import OrchestratorSettings
from orchestrator.main import create_app


def main() -> None:
    settings = OrchestratorSettings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port)


if __name__ == "__main__":
    main()
