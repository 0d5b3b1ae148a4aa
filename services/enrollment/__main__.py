"""`python -m services.enrollment`: serve the enrollment API with uvicorn."""

import uvicorn

from services.enrollment.config import EnrollmentSettings
from services.enrollment.main import create_app


def main() -> None:
    settings = EnrollmentSettings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port)


if __name__ == "__main__":
    main()
