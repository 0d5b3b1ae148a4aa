"""Brokers for tests: an embedded NATS server (the pinned binary, free ports, own store), and
RabbitMQ when TEST_RABBITMQ_URL is set (CI sets it; unreachable then fails rather than skips).

Every test session uses its own namespace, so its streams, exchanges and queues never meet
another session's on a shared broker."""

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import aio_pika
import httpx

from choreography.bus import RabbitBus
from choreography.config import BrokerConfig
from choreography.embedded import health_url, nats_server_command
from choreography.topology import SUBSCRIPTIONS, subscribed_types
from tests.support.servers import free_port

RABBITMQ_URL_VARIABLE = "TEST_RABBITMQ_URL"


def rabbitmq_url() -> str | None:
    return os.environ.get(RABBITMQ_URL_VARIABLE) or None


def unique_namespace() -> str:
    return f"test-{uuid.uuid4().hex[:10]}"


class EmbeddedNats:
    """A real nats-server process; `restart()` keeps its store, as a broker reboot would."""

    def __init__(self, store_dir: Path) -> None:
        self.store_dir = store_dir
        self.port = free_port()
        self.monitor_port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        command = nats_server_command("127.0.0.1", self.port, self.monitor_port, self.store_dir)
        self._process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + timeout
        while not self._healthy():
            if self._process.poll() is not None:
                raise RuntimeError(f"nats-server exited with {self._process.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError("nats-server did not become healthy")
            time.sleep(0.05)

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=30)
            self._process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def _healthy(self) -> bool:
        try:
            url = health_url("127.0.0.1", self.monitor_port)
            return httpx.get(url, timeout=1).status_code == 200
        except httpx.HTTPError:
            return False


async def delete_rabbitmq_namespace(config: BrokerConfig) -> None:
    """Remove a test session's exchanges and queues from the shared RabbitMQ."""
    bus = RabbitBus(config)
    queues = [bus.dead_letter_queue.name, bus.event_log.name] + [
        bus.queue(consumer, event_type).name
        for consumer in SUBSCRIPTIONS
        for event_type in subscribed_types(consumer)
    ]
    connection = await aio_pika.connect(config.url)
    async with connection:
        channel = await connection.channel()
        for queue in queues:
            await channel.queue_delete(queue)
        for exchange in (bus.exchange.name, bus.dead_letter_exchange.name):
            await channel.exchange_delete(exchange)


def drop_rabbitmq_connections(namespace: str) -> int:
    """Close, on the RabbitMQ server, every connection of this namespace's buses (as a broker
    restart would, for them alone: the server is shared). Returns how many were closed."""
    listed = subprocess.run(
        ["rabbitmqctl", "-q", "list_connections", "pid", "client_properties"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    ours = [
        line.split("\t", 1)[0]
        for line in listed.splitlines()
        if f'{{"connection_name","saga:{namespace}"}}' in line
    ]
    for pid in ours:
        subprocess.run(
            ["rabbitmqctl", "-q", "close_connection", pid, "test: broker connection lost"],
            check=True,
            capture_output=True,
            timeout=60,
        )
    return len(ours)


@contextmanager
def rabbitmq_vhost(base_url: str) -> Iterator[str]:
    """A virtual host of its own on the shared RabbitMQ, deleted afterwards with everything in
    it; yields `base_url` pointed at it. Its exchanges and queues can keep their production
    names (the event intake's contract) without meeting another test run's."""
    name = f"test-{uuid.uuid4().hex[:10]}"
    _rabbitmqctl("add_vhost", name)
    try:
        _rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
        url = urlsplit(base_url)
        yield urlunsplit(url._replace(path=f"/{quote(name, safe='')}"))
    finally:
        _rabbitmqctl("delete_vhost", name)


def _rabbitmqctl(*arguments: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *arguments], check=True, capture_output=True, timeout=60)
