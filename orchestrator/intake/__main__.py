"""`python -m orchestrator.intake`: consume the registry's StudentCreated events and start a saga
for each; health routes on HOST:PORT (default 127.0.0.1:8003)."""

from common.logs import configure_logging
from common.serving import serve
from orchestrator.intake.config import IntakeSettings
from orchestrator.intake.main import create_app
from orchestrator.process_exit import exit_now


def main() -> None:
    settings = IntakeSettings()
    configure_logging(settings)
    serve(create_app(settings), settings.host, settings.port)
    exit_now()  # the intake held a Temporal client: orchestrator/process_exit.py


if __name__ == "__main__":
    main()
