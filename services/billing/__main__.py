"""`python -m services.billing`: serve the billing API with uvicorn.

`python -m services.billing db <command>` runs an Alembic command on its database instead
(`db upgrade head`, `db current`, `db downgrade -1`, ...; docs/deployment.md).
"""

import sys

from common.logs import configure_logging
from common.migrations import is_database_command, run_database_command
from common.serving import serve
from services.billing.config import BillingSettings
from services.billing.main import SCHEMA, SERVICE_NAME, create_app


def main() -> None:
    settings = BillingSettings()
    if is_database_command(sys.argv[1:]):
        run_database_command(
            "services.billing", SCHEMA, settings.database_url_for(SERVICE_NAME), sys.argv[1:]
        )
        return
    configure_logging(settings)
    serve(create_app(settings), settings.host, settings.port)


if __name__ == "__main__":
    main()
