"""`python -m orchestrator`: serve the orchestrator API with uvicorn."""

from common.serving import serve
from orchestrator.config import OrchestratorSettings
from orchestrator.main import create_app


def main() -> None:
    settings = OrchestratorSettings()
    serve(create_app(settings), settings.host, settings.port)


if __name__ == "__main__":
    main()
