"""`python -m orchestrator.intake`: consume the registry's StudentCreated events and start a saga
for each; health routes on HOST:PORT (default 127.0.0.1:8003)."""

from common.logs import configure_logging
from common.serving import serve
from orchestrator.intake.config import IntakeSettings
from orchestrator.intake.main import create_app
from orchestrator.process_exit import run_and_exit


def main() -> None:
    settings = IntakeSettings()
    configure_logging(settings)
    serve(create_app(settings), settings.host, settings.port)


if __name__ == "__main__":
    run_and_exit(main)
