"""The `saga` command's surface, in process (no server): help everywhere, usage errors as 2.
Its behaviour against the running system is in tests/e2e/test_saga_cli.py."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from choreography.cli import broker_config
from choreography.config import ChoreographyToolSettings
from orchestrator.ops.cli import app
from tests.support.servers import free_port

COMMANDS = ["start", "status", "list", "retry", "reset", "replay", "check"]
GROUPS = {
    "intake": ["dead-letters", "redrive"],
    "choreography": ["dead-letters", "redrive", "rebuild-tracker"],
}


def test_every_command_is_listed_in_the_help() -> None:
    result = CliRunner().invoke(app, ["--help"])

    assert result.exit_code == 0
    assert all(command in result.output for command in [*COMMANDS, *GROUPS])


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    result = CliRunner().invoke(app, [command, "--help"])

    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


@pytest.mark.parametrize(
    "command", [[group, command] for group, commands in GROUPS.items() for command in commands]
)
def test_every_command_of_a_group_is_listed_and_has_help(command: list[str]) -> None:
    listed = CliRunner().invoke(app, [command[0], "--help"])
    result = CliRunner().invoke(app, [*command, "--help"])

    assert command[1] in listed.output
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["retry", "ada", "--query", "SagaStatus = 'FAILED'"],
        ["retry", "--query", "SagaStatus = 'FAILED'", "--payment-token", "tok_visa"],
        ["retry", "ada", "--dry-run"],
        ["retry", "ada", "--failed-step", "charge_tuition"],
        ["list", "--status", "LOST"],
        ["reset", "ada"],
        ["choreography", "dead-letters", "--broker-url", "http://127.0.0.1:4222"],
        ["choreography", "redrive", "--no-such-option"],
    ],
)
def test_contradictory_or_invalid_options_are_a_usage_error(args: list[str]) -> None:
    assert CliRunner().invoke(app, args).exit_code == 2


@pytest.mark.parametrize("command", ["dead-letters", "redrive"])
@pytest.mark.parametrize("scheme", ["nats", "amqp"])
def test_the_choreography_commands_say_when_the_broker_cannot_be_reached(
    command: str, scheme: str
) -> None:
    broker_url = f"{scheme}://127.0.0.1:{free_port()}"

    result = CliRunner().invoke(app, ["choreography", command, "--broker-url", broker_url])

    assert result.exit_code == 4, result.output
    assert f"cannot reach the broker at {broker_url}" in result.output


def test_the_choreography_commands_find_the_broker_of_the_shell_that_runs_make_up(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    for name in ("BROKER_URL", "BROKER_NAMESPACE", "SAGA_BROKER_URL", "SAGA_BROKER_NAMESPACE"):
        monkeypatch.delenv(name, raising=False)
    embedded = broker_config(None, ChoreographyToolSettings())
    monkeypatch.setenv("SAGA_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672/")
    monkeypatch.setenv("SAGA_BROKER_NAMESPACE", "mine")
    make_up = broker_config(None, ChoreographyToolSettings())
    monkeypatch.setenv("BROKER_URL", "nats://127.0.0.1:4222")
    monkeypatch.setenv("BROKER_NAMESPACE", "theirs")
    service = broker_config(None, ChoreographyToolSettings())

    assert (embedded.url, embedded.namespace) == ("nats://127.0.0.1:4223", "saga")
    assert (make_up.url, make_up.namespace) == ("amqp://guest:guest@127.0.0.1:5672/", "mine")
    assert (service.url, service.namespace) == ("nats://127.0.0.1:4222", "theirs")
    assert (
        broker_config("nats://elsewhere:4222", ChoreographyToolSettings()).url
        == "nats://elsewhere:4222"
    )
