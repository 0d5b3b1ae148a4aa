"""The worker's cache and slots come from its settings (WORKER_* variables): by default 20
workflow-task and 20 local-activity slots, and the SDK's default for regular activities."""

import secrets

import pytest
from pydantic import ValidationError
from temporalio.testing import WorkflowEnvironment

from common.payload_keys import new_key_entry
from orchestrator.config import WorkerSettings
from orchestrator.worker.main import saga_worker


async def test_the_worker_runs_with_the_cache_and_slots_its_settings_give(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    settings = WorkerSettings(
        worker_max_cached_workflows=50, worker_max_concurrent_local_activities=30
    )

    async with saga_worker(time_skipping_env.client, settings) as worker:
        config = worker.config()

    assert config.get("max_cached_workflows") == 50
    assert config.get("max_concurrent_local_activities") == 30
    assert config.get("max_concurrent_workflow_tasks") == 20
    assert config.get("max_concurrent_activities") is None


def test_the_worker_settings_are_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WORKER_MAX_CONCURRENT_ACTIVITIES", "30")
    monkeypatch.setenv("WORKER_MAX_CACHED_WORKFLOWS", "0")

    settings = WorkerSettings()

    assert settings.worker_max_concurrent_activities == 30
    assert settings.worker_max_cached_workflows == 0  # no cache: every task replays the history
    assert settings.worker_max_concurrent_workflow_tasks == 20
    assert settings.worker_max_concurrent_local_activities == 20


def test_the_worker_needs_service_tokens_but_no_api_keys_outside_development(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("PAYLOAD_KEYS", new_key_entry("k1"))
    monkeypatch.delenv("API_KEYS", raising=False)
    monkeypatch.delenv("SERVICE_TOKENS", raising=False)

    with pytest.raises(ValidationError, match="SERVICE_TOKENS"):
        WorkerSettings()
    monkeypatch.setenv("SERVICE_TOKENS", secrets.token_urlsafe(32))
    assert WorkerSettings().environment == "production"
