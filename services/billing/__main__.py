"""`python -m services.billing`: serve the billing API (services/entrypoint.py)."""

from services.billing.config import BillingSettings
from services.billing.main import SCHEMA, create_app
from services.entrypoint import serve_service

if __name__ == "__main__":
    serve_service("services.billing", SCHEMA, BillingSettings(), create_app)
