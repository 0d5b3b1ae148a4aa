"""One service's CPU per request, alone: start billing from a checkout, POST charges at a fixed
concurrency, and read the process's CPU time before and after (tuning log, docs/benchmarks.md).

    .venv/bin/python scripts/service_cpu_probe.py [--tree DIR] [--requests N] [--concurrency C]

A probe for comparing two versions of the request path (run them in turn, several times: one
run's figure moves by a tenth on a shared machine); `make bench` measures the whole saga.
"""

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp

from bench.measure import sample
from devstack.config import free_ports
from devstack.readiness import http_ok
from orchestrator.process_exit import run_and_exit

TOKEN = "probe-token-" + "x" * 32
WARMUP_REQUESTS = 200


async def charge(session: aiohttp.ClientSession, url: str) -> None:
    body = {
        "student_id": f"probe-{uuid.uuid4().hex[:8]}",
        "enrollment_id": str(uuid.uuid4()),
        "amount_cents": 1200,
        "currency": "USD",
        "payment_token": "tok_visa",
    }
    headers = {"Authorization": f"Bearer {TOKEN}", "Idempotency-Key": uuid.uuid4().hex}
    async with session.post(f"{url}/charges", json=body, headers=headers) as response:
        await response.read()
        if response.status != 201:
            raise RuntimeError(f"POST /charges answered {response.status}")


async def wait_ready(url: str, service: subprocess.Popen[bytes]) -> None:
    for _ in range(200):
        if service.poll() is not None:
            raise RuntimeError("the service exited at startup (see its log)")
        if await asyncio.to_thread(http_ok, f"{url}/readyz"):
            return
        await asyncio.sleep(0.1)
    raise RuntimeError("the service did not become ready")


async def probe(tree: Path, requests: int, concurrency: int) -> None:
    (port,) = free_ports(1)
    with tempfile.TemporaryDirectory(prefix="service-probe-") as data_dir:
        env = {
            key: value for key, value in os.environ.items() if key not in ("PORT", "DATABASE_URL")
        }
        env |= {"DATA_DIR": data_dir, "PORT": str(port), "SERVICE_TOKENS": TOKEN}
        with open(Path(data_dir) / "service.log", "wb") as log:
            service = subprocess.Popen(
                [sys.executable, "-m", "services.billing"],
                cwd=tree,
                env=env,
                stdout=log,
                stderr=log,
            )
        url = f"http://127.0.0.1:{port}"
        try:
            async with aiohttp.ClientSession() as session:
                await wait_ready(url, service)
                for _ in range(WARMUP_REQUESTS):
                    await charge(session, url)
                each = requests // concurrency

                async def client() -> None:
                    for _ in range(each):
                        await charge(session, url)

                before, started = sample(service.pid), time.perf_counter()
                await asyncio.gather(*(client() for _ in range(concurrency)))
                after, ended = sample(service.pid), time.perf_counter()
            if service.poll() is not None:
                raise RuntimeError("the service exited during the probe")
        finally:
            service.terminate()
            service.wait()
    sent = each * concurrency
    cpu_ms = 1000 * (after.cpu_seconds - before.cpu_seconds) / sent
    print(
        f"{tree}: {sent} charges at c={concurrency}: CPU {cpu_ms:.2f} ms per request, "
        f"{sent / (ended - started):.0f} requests/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=5)
    arguments = parser.parse_args()
    if arguments.requests < arguments.concurrency:
        parser.error("--requests must be at least --concurrency")
    asyncio.run(probe(arguments.tree.resolve(), arguments.requests, arguments.concurrency))


if __name__ == "__main__":
    run_and_exit(main)
