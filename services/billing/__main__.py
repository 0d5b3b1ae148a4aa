"""`python -m services.billing`: serve the billing API with uvicorn."""

from common.serving import serve
from services.billing.config import BillingSettings
from services.billing.main import create_app


def main() -> None:
    settings = BillingSettings()
    serve(create_app(settings), settings.host, settings.port)


if __name__ == "__main__":
    main()
