"""`python -m services.billing`: serve the billing API with uvicorn."""

import uvicorn

from services.billing.config import BillingSettings
from services.billing.main import create_app


def main() -> None:
    settings = BillingSettings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port)


if __name__ == "__main__":
    main()
