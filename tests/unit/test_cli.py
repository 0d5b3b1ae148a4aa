"""The `saga` command's surface, in process (no server): help everywhere, usage errors as 2.
Its behaviour against the running system is in tests/e2e/test_saga_cli.py."""

import pytest
from typer.testing import CliRunner

from orchestrator.ops.cli import app

COMMANDS = ["start", "status", "list", "retry", "reset", "replay", "check"]


def test_every_command_is_listed_in_the_help() -> None:
    result = CliRunner().invoke(app, ["--help"])

    assert result.exit_code == 0
    assert all(command in result.output for command in COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    result = CliRunner().invoke(app, [command, "--help"])

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
    ],
)
def test_contradictory_or_invalid_options_are_a_usage_error(args: list[str]) -> None:
    assert CliRunner().invoke(app, args).exit_code == 2
