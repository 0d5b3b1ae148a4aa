"""The latency of a waited onboarding: `POST /students` with `Prefer: wait=30`, one at a time,
on a fresh local stack (bench/run.py's), against the same saga started with a plain POST and
then awaited through the Temporal client (the benchmark's orchestrated driver).

    .venv/bin/python scripts/prefer_wait_latency.py [--sagas N] [--warmup N]

Both loops run at concurrency 1, interleaved (waited, then plain, per student), so a change of
the machine's load hits both alike. Recorded in docs/benchmarks.md ("A waited onboarding").
"""

import argparse
import asyncio
import time

from bench.measure import Latencies
from bench.run import BenchStack, Mode, bench_stack
from bench.workload import Outcome, orders
from orchestrator.process_exit import run_and_exit


async def measure(stack: BenchStack, sagas: int, warmup: int) -> None:
    plain = stack.driver(Mode.ORCHESTRATION)
    waited_seconds: list[float] = []
    plain_seconds: list[float] = []
    answers: dict[int, int] = {}
    students = orders(2 * (sagas + warmup), {Outcome.SUCCESS: 1.0}, seed=16, prefix="wait")
    for index in range(sagas + warmup):
        order, other = students[2 * index], students[2 * index + 1]
        started = time.perf_counter()
        response = await stack.api.post("/students", json=order.body, headers={"Prefer": "wait=30"})
        waited = time.perf_counter() - started
        started = time.perf_counter()
        await plain(other)
        unwaited = time.perf_counter() - started
        if index < warmup:
            continue
        answers[response.status_code] = answers.get(response.status_code, 0) + 1
        waited_seconds.append(waited)
        plain_seconds.append(unwaited)
    for name, seconds in (
        ("Prefer: wait=30", waited_seconds),
        ("POST, then result", plain_seconds),
    ):
        latency = Latencies.of(seconds)
        print(
            f"{name:>18}: p50 {latency.p50 * 1000:.0f} ms, p95 {latency.p95 * 1000:.0f} ms, "
            f"p99 {latency.p99 * 1000:.0f} ms, max {latency.max * 1000:.0f} ms ({len(seconds)})"
        )
    print(f"answers to the waited POST: {answers}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sagas", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    arguments = parser.parse_args()
    async with bench_stack(concurrency=1) as stack:
        await measure(stack, arguments.sagas, arguments.warmup)


if __name__ == "__main__":
    run_and_exit(lambda: asyncio.run(main()))
