"""`python -m orchestrator`: serve the orchestrator API with uvicorn."""

import uvicorn

from common.logs import configure_logging
from orchestrator.config import OrchestratorSettings
from orchestrator.main import create_app


def main() -> None:
    settings = OrchestratorSettings()
    configure_logging(settings)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None)


if __name__ == "__main__":
    main()
