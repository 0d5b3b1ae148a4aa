"""`python -m services.enrollment`: serve the enrollment API (services/entrypoint.py)."""

from services.enrollment.config import EnrollmentSettings
from services.enrollment.main import SCHEMA, create_app
from services.entrypoint import serve_service

if __name__ == "__main__":
    serve_service("services.enrollment", SCHEMA, EnrollmentSettings(), create_app)
