"""`python -m services.billing`: serve the billing API with uvicorn."""

import uvicorn

from common.logs import configure_logging
from services.billing.config import BillingSettings
from services.billing.main import create_app


def main() -> None:
    settings = BillingSettings()
    configure_logging(settings)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None)


if __name__ == "__main__":
    main()
