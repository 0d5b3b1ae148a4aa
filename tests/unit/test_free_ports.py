"""The ports test and benchmark stacks listen on: free, distinct, and out of the kernel's way."""

import socket

import pytest

from devstack import config
from devstack.config import DevstackSettings, free_ports


def test_free_ports_are_distinct_and_below_the_ephemeral_range() -> None:
    ports = free_ports(50)

    assert len(set(ports)) == 50
    assert all(20_000 <= port < 32_768 for port in ports)


def test_a_port_something_listens_on_is_never_picked(monkeypatch: pytest.MonkeyPatch) -> None:
    (taken, other) = free_ports(2)
    monkeypatch.setattr(config, "LISTEN_PORTS", [taken, other])
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", taken))
        listener.listen()

        picked = {port for _ in range(20) for port in free_ports(1)}

    assert picked == {other}


def test_a_stack_on_free_ports_gets_one_port_per_process() -> None:
    settings = DevstackSettings.on_free_ports()

    ports = list(settings.ports().values())
    assert len(set(ports)) == len(ports)
    assert all(port in config.LISTEN_PORTS for port in ports)
