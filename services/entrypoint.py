"""`python -m services.<name>`: serve the service's API with uvicorn, or, as
`python -m services.<name> db <command>`, run an Alembic command on its database (`db upgrade
head`, `db current`, `db downgrade -1`, ...; docs/deployment.md)."""

import sys
from collections.abc import Callable
from typing import TypeVar

from fastapi import FastAPI

from common.logs import configure_logging
from common.migrations import Schema, is_database_command, run_database_command
from common.serving import serve
from services.settings import ServiceSettings

Settings = TypeVar("Settings", bound=ServiceSettings)


def serve_service(
    module: str, schema: Schema, settings: Settings, create_app: Callable[[Settings], FastAPI]
) -> None:
    arguments = sys.argv[1:]
    if is_database_command(arguments):
        database_url = settings.database_url_for(schema.name)
        run_database_command(module, schema, database_url, arguments)
        return
    configure_logging(settings)
    serve(create_app(settings), settings.host, settings.port)
