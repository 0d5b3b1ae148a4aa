"""`python -m choreography` against a broker that is down: a clear error and exit code 4 at once,
never the wait a service's bus makes for a broker to come back."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.servers import free_port


@pytest.mark.parametrize("command", ["dead-letters", "redrive", "rebuild-tracker"])
def test_a_command_on_a_nats_server_that_is_down_fails_at_once(
    command: str, tmp_path: Path
) -> None:
    url = f"nats://127.0.0.1:{free_port()}"
    database_url = f"sqlite:///{tmp_path / 'api.db'}"
    env = {**os.environ, "BROKER_URL": url, "DATABASE_URL": database_url, "COLUMNS": "400"}
    # rebuild-tracker wants the API's database at its schema first, as the API leaves it.
    migrate = [sys.executable, "-m", "orchestrator", "db", "upgrade", "head"]
    subprocess.run(migrate, env=env, capture_output=True, timeout=60, check=True)

    finished = subprocess.run(
        [sys.executable, "-m", "choreography", command],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert finished.returncode == 4, finished.stdout + finished.stderr
    assert f"error: cannot reach the broker at {url}" in finished.stderr
