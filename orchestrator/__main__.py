"""`python -m orchestrator`: serve the orchestrator API with uvicorn.

`python -m orchestrator db <command>` runs an Alembic command on its database instead
(`db upgrade head`, `db current`, `db downgrade -1`, ...; docs/deployment.md).
"""

import sys

from common.logs import configure_logging
from common.migrations import is_database_command, run_database_command
from common.serving import serve
from orchestrator.api.app import API_SCHEMA, create_app
from orchestrator.config import OrchestratorSettings
from orchestrator.process_exit import run_and_exit


def main() -> None:
    settings = OrchestratorSettings()
    if is_database_command(sys.argv[1:]):
        run_database_command(
            "orchestrator", API_SCHEMA, settings.database_url_for_api(), sys.argv[1:]
        )
        return
    configure_logging(settings)
    serve(create_app(settings), settings.host, settings.port)


if __name__ == "__main__":
    run_and_exit(main)
