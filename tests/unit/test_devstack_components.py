"""What the dev stack would start: extra worker processes share the first one's configuration."""

import sys
from pathlib import Path

from common.payload_keys import parse_keys
from devstack.components import _reservation_ttl, components, python_module, stays_up
from devstack.config import DevstackSettings
from devstack.secrets import development_secrets


def test_a_second_worker_process_runs_the_same_worker_on_the_same_task_queue(
    tmp_path: Path,
) -> None:
    settings = DevstackSettings.on_free_ports(data_dir=tmp_path, worker_processes=2)

    plan = components(settings, tmp_path, secrets_in(tmp_path), inherited={})

    workers = [c for tier in plan for c in tier if c.name.startswith("worker")]
    assert [worker.name for worker in workers] == ["worker", "worker-2"]
    assert workers[0].command == workers[1].command
    # ...but only the first serves the stack's one metrics port
    metrics_port = {"HOST": settings.host, "METRICS_PORT": str(settings.worker_metrics_port)}
    assert workers[0].env == workers[1].env | metrics_port
    assert workers[0].env["TASK_QUEUE"] == settings.task_queue


def test_the_stack_runs_one_worker_process_by_default(tmp_path: Path) -> None:
    settings = DevstackSettings.on_free_ports(data_dir=tmp_path)
    plan = components(settings, tmp_path, secrets_in(tmp_path), inherited={})

    assert [c.name for tier in plan for c in tier if c.name.startswith("worker")] == ["worker"]


def secrets_in(data_dir: Path) -> dict[str, str]:
    return development_secrets(data_dir / ".env", data_dir, {})


def test_a_process_without_a_readiness_endpoint_is_ready_once_it_has_stayed_up() -> None:
    at_once, after_an_hour = stays_up(0), stays_up(3600)

    assert at_once(1234)
    assert not after_an_hour(1234)


def test_a_python_module_is_run_by_this_interpreter_with_its_own_environment() -> None:
    intake = python_module("intake", "orchestrator.intake", {"BROKER_URL": "nats://x"})

    assert intake.command == [sys.executable, "-m", "orchestrator.intake"]
    assert intake.env == {"BROKER_URL": "nats://x"}


def test_make_up_passes_its_reservation_ttl_to_enrollment_only_when_set() -> None:
    assert _reservation_ttl(DevstackSettings(reservation_ttl_seconds=45)) == {
        "RESERVATION_TTL_SECONDS": "45"
    }
    assert _reservation_ttl(DevstackSettings()) == {}


def test_only_the_api_which_seals_and_billing_which_opens_get_the_event_payload_keys(
    tmp_path: Path,
) -> None:
    settings = DevstackSettings.on_free_ports(data_dir=tmp_path)
    secrets = secrets_in(tmp_path)
    leaked = {"EVENT_PAYLOAD_KEYS": "from-the-shell"}

    plan = components(settings, tmp_path, secrets, inherited=leaked)

    holders = {
        c.name: c.env["EVENT_PAYLOAD_KEYS"]
        for t in plan
        for c in t
        if "EVENT_PAYLOAD_KEYS" in c.env
    }
    assert holders == {
        "api": secrets["EVENT_PAYLOAD_KEYS"],
        "billing": secrets["EVENT_PAYLOAD_KEYS"],
    }
    assert parse_keys(secrets["EVENT_PAYLOAD_KEYS"]).current_id == "dev-events-1"
