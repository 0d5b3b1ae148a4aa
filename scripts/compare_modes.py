"""A first side-by-side measurement of both saga modes on the dev stack (the benchmark issue owns
the full benchmark): latency of one saga at a time, then a burst of concurrent sagas.

    .venv/bin/python -m scripts.compare_modes [--sequential 20] [--concurrent 50]

Starts its own stack (Temporal, embedded NATS, services, worker, API) on free ports in a
temporary directory. Latency is from POST /students to the first GET /sagas/{id} that reports a
terminal status, polled every 20 ms, so figures carry up to 20 ms of polling granularity.
"""

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from common.auth import bearer_headers
from devstack.config import DevstackSettings
from devstack.stack import Stack
from workflows.contracts import TERMINAL_STATUSES

MODES = ("orchestration", "choreography")
POLL_SECONDS = 0.02


async def one_saga(api: httpx.AsyncClient, mode: str) -> float:
    student_id = f"bench-{uuid.uuid4().hex[:12]}"
    body = {
        "student_id": student_id,
        "name": "Bench",
        "email": "bench@example.com",
        "course_id": "CS101",
        "payment_token": "tok_visa",
        "mode": mode,
    }
    started = time.perf_counter()
    response = await api.post("/students", json=body)
    response.raise_for_status()
    while True:
        state = await api.get(f"/sagas/{student_id}")
        if state.status_code == 200 and state.json()["status"] in TERMINAL_STATUSES:
            assert state.json()["status"] == "COMPLETED", state.text
            return time.perf_counter() - started
        await asyncio.sleep(POLL_SECONDS)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def measure(api_url: str, api_key: str, sequential: int, concurrent: int) -> None:
    headers = bearer_headers(api_key)
    async with httpx.AsyncClient(base_url=api_url, headers=headers, timeout=60) as api:
        for mode in MODES:
            await one_saga(api, mode)  # warm-up, not counted
            latencies = [await one_saga(api, mode) for _ in range(sequential)]
            began = time.perf_counter()
            await asyncio.gather(*(one_saga(api, mode) for _ in range(concurrent)))
            burst = time.perf_counter() - began
            print(
                f"| {mode} | {sequential} | {statistics.median(latencies) * 1000:.0f} | "
                f"{percentile(latencies, 0.95) * 1000:.0f} | {concurrent} | {burst:.1f} | "
                f"{concurrent / burst:.1f} |"
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sequential", type=int, default=20)
    parser.add_argument("--concurrent", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        settings = DevstackSettings.on_free_ports(data_dir=Path(data_dir))
        with Stack(settings, log=lambda _line: None) as stack:
            print("| mode | sequential sagas | p50 ms | p95 ms | burst | burst s | sagas/s |")
            print("| --- | --- | --- | --- | --- | --- | --- |")
            api_url, api_key = stack.settings.local_api_url, stack.secrets["SAGA_API_KEY"]
            asyncio.run(measure(api_url, api_key, args.sequential, args.concurrent))


if __name__ == "__main__":
    main()
