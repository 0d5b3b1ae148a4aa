"""Readiness probes: each answers "ready yet?" once, quickly; the stack polls them.

A probe returns False, never raises, while the answer is "not yet".
"""

import asyncio
import socket

import httpx
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, DescribeTaskQueueRequest
from temporalio.client import Client

PROBE_TIMEOUT_SECONDS = 3.0


def port_accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_SECONDS):
            return True
    except OSError:
        return False


def http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=PROBE_TIMEOUT_SECONDS).status_code == 200
    except httpx.HTTPError:
        return False


def temporal_serves(address: str, namespace: str, ui_url: str) -> bool:
    """The frontend accepts a client, the namespace exists, and the Web UI answers."""
    host, port = address.rsplit(":", 1)
    if not port_accepts(host, int(port)):
        return False
    try:
        probe = _describe_namespace(address, namespace)
        asyncio.run(asyncio.wait_for(probe, PROBE_TIMEOUT_SECONDS))
    except Exception:
        return False
    return http_ok(ui_url)


async def _describe_namespace(address: str, namespace: str) -> None:
    client = await Client.connect(address, namespace=namespace)
    await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=namespace))


def worker_polls(address: str, namespace: str, task_queue: str, pid: int) -> bool:
    """The worker process `pid` polls the task queue for workflow tasks.

    Temporal lists recent pollers, including ones of a worker that has since stopped, so the
    poller is matched by the Python SDK's default identity, "<pid>@<hostname>".
    """
    try:
        return asyncio.run(
            asyncio.wait_for(
                _has_poller(address, namespace, task_queue, f"{pid}@"), PROBE_TIMEOUT_SECONDS
            )
        )
    except Exception:
        return False


async def _has_poller(address: str, namespace: str, task_queue: str, identity_prefix: str) -> bool:
    client = await Client.connect(address, namespace=namespace)
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    return any(poller.identity.startswith(identity_prefix) for poller in response.pollers)
