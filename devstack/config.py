"""Settings of `make up` / `make demo`, read from SAGA_-prefixed environment variables (or .env).

The prefix keeps them apart from the plain names the child processes read (PORT, HOST,
DATABASE_URL, TEMPORAL_ADDRESS, ...): the dev stack derives those per process from these.

    SAGA_HOST                      bind address of every process          127.0.0.1
    SAGA_TEMPORAL_PORT             Temporal frontend (gRPC)               7233
    SAGA_TEMPORAL_UI_PORT          Temporal Web UI                        8233
    SAGA_ENROLLMENT_PORT           enrollment service                     8001
    SAGA_BILLING_PORT              billing service                        8002
    SAGA_API_PORT                  orchestrator API                       8000
    SAGA_CODEC_SERVER_PORT         codec server the Temporal UI decodes with   8081
    SAGA_WORKER_METRICS_PORT       the worker's Prometheus /metrics       9464
    SAGA_DATA_DIR                  temporal.db and the services' SQLite   data
    SAGA_TEMPORAL_NAMESPACE        namespace the dev server creates       default
    SAGA_TASK_QUEUE                the worker's task queue                student-onboarding
    SAGA_ENROLLMENT_DATABASE_URL   enrollment's DATABASE_URL              <DATA_DIR>/enrollment.db
    SAGA_BILLING_DATABASE_URL      billing's DATABASE_URL                 <DATA_DIR>/billing.db
    SAGA_API_URL                   the API `make demo` talks to           http://<HOST>:<API_PORT>
    SAGA_NATS_PORT                 embedded NATS JetStream (choreography)  4223
    SAGA_NATS_MONITOR_PORT         its monitoring endpoint (/healthz)      8223
    SAGA_BROKER_URL                another broker instead of the embedded NATS, e.g.
                                   amqp://guest:guest@127.0.0.1:5672/     (unset: embedded NATS)
    SAGA_BROKER_NAMESPACE          prefix of streams/exchanges/queues     saga
    SAGA_STARTUP_TIMEOUT_SECONDS   how long one process may take to be ready   60
    SAGA_STOP_TIMEOUT_SECONDS      grace period after SIGTERM, before SIGKILL  10
    SAGA_FAULT_INJECTION           services serve /_faults (make demo-crash,  true
                                   make chaos, tests; service token required)
    SAGA_CRASH_LOOP_EXITS          a process that exits this many times ...   5
    SAGA_CRASH_LOOP_SECONDS        ... within this many seconds stops the stack  60
    SAGA_RESTART_BACKOFF_SECONDS   wait before the first restart, doubling    0.5
    SAGA_RESTART_BACKOFF_MAX_SECONDS   ... up to this                         10
    SAGA_SECRETS_FILE              the stack's secrets (devstack/secrets.py)   .env

A process that exits while the stack runs is restarted (devstack/supervision.py); set
SAGA_CRASH_LOOP_EXITS=1 to stop the stack at the first exit instead.

Every process listens on SAGA_HOST. Anything but a loopback address exposes the Temporal dev
server, which skips HTTP security checks, to the network.
"""

import random
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from workflows.contracts import TASK_QUEUE

Port = Annotated[int, Field(ge=1, le=65535)]
PositiveSeconds = Annotated[float, Field(gt=0)]


class DevstackSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SAGA_", env_file=".env", extra="ignore")

    host: str = "127.0.0.1"
    temporal_port: Port = 7233
    temporal_ui_port: Port = 8233
    enrollment_port: Port = 8001
    billing_port: Port = 8002
    api_port: Port = 8000
    intake_port: Port = 8003
    codec_server_port: Port = 8081
    worker_metrics_port: Port = 9464
    data_dir: Path = Path("data")
    temporal_namespace: str = "default"
    task_queue: str = TASK_QUEUE
    enrollment_database_url: str | None = None
    billing_database_url: str | None = None
    api_url: str | None = None
    nats_port: Port = 4223
    nats_monitor_port: Port = 8223
    broker_url: str | None = None
    broker_namespace: str = "saga"
    # A choreographed reservation's lease (enrollment's RESERVATION_TTL_SECONDS); None: its default.
    reservation_ttl_seconds: PositiveSeconds | None = None
    startup_timeout_seconds: PositiveSeconds = 60.0
    stop_timeout_seconds: PositiveSeconds = 10.0
    # On in the dev stack so that `make demo-crash` can hold sagas with injected latency; the
    # routes want the service token like every write (benchmarks turn it off explicitly).
    fault_injection: bool = True
    crash_loop_exits: int = Field(default=5, ge=1)
    crash_loop_seconds: PositiveSeconds = 60.0
    restart_backoff_seconds: PositiveSeconds = 0.5
    restart_backoff_max_seconds: PositiveSeconds = 10.0
    secrets_file: Path = Path(".env")
    # Worker processes on the task queue; more than one shares the saga load between them
    # (the benchmark's horizontal run). The first is "worker", the others "worker-2", ...
    worker_processes: int = Field(default=1, ge=1, le=16)

    @model_validator(mode="after")
    def ports_are_distinct(self) -> Self:
        ports = self.ports()
        if len(set(ports.values())) != len(ports):
            listed = ", ".join(f"{name}={port}" for name, port in ports.items())
            raise ValueError(f"every process needs its own port, got {listed}")
        return self

    @classmethod
    def on_free_ports(cls, **settings: Any) -> Self:
        """A stack whose every port is a distinct free one, for tests, the chaos run and the
        benchmark: it never collides with `make up` or with services on standard ports, nor
        with its .env (its secrets stay in its own data dir)."""
        names = [name for name in cls.model_fields if name.endswith("_port")]
        values: dict[str, Any] = dict(zip(names, free_ports(len(names)), strict=True)) | settings
        data_dir = Path(values.get("data_dir", cls.model_fields["data_dir"].default))
        values.setdefault("secrets_file", data_dir / "secrets.env")
        return cls(**values)

    def ports(self) -> dict[str, int]:
        """Each port by the name of its environment variable."""
        return {
            "SAGA_TEMPORAL_PORT": self.temporal_port,
            "SAGA_TEMPORAL_UI_PORT": self.temporal_ui_port,
            "SAGA_ENROLLMENT_PORT": self.enrollment_port,
            "SAGA_BILLING_PORT": self.billing_port,
            "SAGA_API_PORT": self.api_port,
            "SAGA_INTAKE_PORT": self.intake_port,
            "SAGA_CODEC_SERVER_PORT": self.codec_server_port,
            "SAGA_WORKER_METRICS_PORT": self.worker_metrics_port,
        } | (
            {}
            if self.broker_url
            else {
                "SAGA_NATS_PORT": self.nats_port,
                "SAGA_NATS_MONITOR_PORT": self.nats_monitor_port,
            }
        )

    @property
    def embedded_nats(self) -> bool:
        return not self.broker_url

    @property
    def effective_broker_url(self) -> str:
        """SAGA_BROKER_URL, else the embedded NATS server's."""
        return self.broker_url or f"nats://{self.host}:{self.nats_port}"

    @property
    def temporal_address(self) -> str:
        return f"{self.host}:{self.temporal_port}"

    @property
    def temporal_ui_url(self) -> str:
        return f"http://{self.host}:{self.temporal_ui_port}"

    @property
    def enrollment_url(self) -> str:
        return f"http://{self.host}:{self.enrollment_port}"

    @property
    def billing_url(self) -> str:
        return f"http://{self.host}:{self.billing_port}"

    @property
    def worker_metrics_url(self) -> str:
        return f"http://{self.host}:{self.worker_metrics_port}/metrics"

    @property
    def codec_server_url(self) -> str:
        return f"http://{self.host}:{self.codec_server_port}"

    @property
    def local_api_url(self) -> str:
        """Where the stack serves the API."""
        return f"http://{self.host}:{self.api_port}"

    @property
    def demo_api_url(self) -> str:
        """Where `make demo` finds the API: SAGA_API_URL, else the stack's own."""
        return self.api_url or self.local_api_url


# Where free_ports looks: below the kernels' ephemeral ranges (Linux 32768-60999, macOS and
# Windows 49152-65535). A port the kernel hands out for bind(0) comes from that range, and
# until the server that was meant to get it binds it, any process's outgoing connection may
# take it as its local port: seen once, the Temporal UI failing with "address already in use"
# during `make bench`, whose clients open connections all the time.
LISTEN_PORTS: Sequence[int] = range(20_000, 32_000)


def free_ports(count: int) -> list[int]:
    """`count` distinct loopback ports that nothing listens on now, outside the ephemeral
    range; random, so that parallel test runs rarely pick the same."""
    chosen: list[int] = []
    pick = random.SystemRandom()
    while len(chosen) < count:
        port = pick.choice(LISTEN_PORTS)
        if port in chosen:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        chosen.append(port)
    return chosen
