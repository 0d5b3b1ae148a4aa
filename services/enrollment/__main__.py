"""`python -m services.enrollment`: serve the enrollment API with uvicorn."""

from common.serving import serve
from services.enrollment.config import EnrollmentSettings
from services.enrollment.main import create_app


def main() -> None:
    settings = EnrollmentSettings()
    serve(create_app(settings), settings.host, settings.port)


if __name__ == "__main__":
    main()
