"""`python -m services.enrollment`: serve the enrollment API with uvicorn."""

import uvicorn

from common.logs import configure_logging
from services.enrollment.config import EnrollmentSettings
from services.enrollment.main import create_app


def main() -> None:
    settings = EnrollmentSettings()
    configure_logging(settings)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None)


if __name__ == "__main__":
    main()
