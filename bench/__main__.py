"""`make bench` / `python -m bench`: every mode on a fresh local stack, then one report.

python -m bench --sagas 1000 --concurrency 100 --sweep 1,10,100,500 --sweep-sagas 200
python -m bench --modes orchestration --workers 2       # horizontal: two saga workers
python -m bench --modes '' --park 2000                  # in-flight capacity only
python -m bench --modes orchestration,floor-local,floor --pairs 3 --sweep ''   # ratios' spread
"""

import asyncio
import shlex
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bench import report
from bench.pairs import round_orders
from bench.park import ParkResult, park
from bench.run import Mode, RunResult, bench_stack, run
from bench.workload import DEFAULT_MIX, orders
from orchestrator.process_exit import run_and_exit

console = Console()
app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


def _levels(text: str) -> list[int]:
    return [int(level) for level in text.split(",") if level.strip()]


async def bench_mode(
    mode: Mode,
    sagas: int,
    concurrency: int,
    sweep: list[int],
    sweep_sagas: int,
    warmup: int,
    seed: int,
    workers: int,
    progress: Progress,
) -> tuple[RunResult, list[RunResult]]:
    widest = max([concurrency, *sweep])
    # More saga workers only where they work; the other modes keep the stack's default.
    async with bench_stack(widest, workers if mode is Mode.ORCHESTRATION else 1) as stack:
        # Connections, caches and the floor worker's first poll, before anything is measured.
        await run(stack, mode, orders(warmup, DEFAULT_MIX, seed, "warm"), min(warmup, 10))
        main = await run(
            stack,
            mode,
            orders(sagas, DEFAULT_MIX, seed, mode.value),
            concurrency,
            progress,
            history_sample=10,
        )
        swept = [
            await run(
                stack, mode, orders(sweep_sagas, DEFAULT_MIX, seed, f"c{level}"), level, progress
            )
            for level in sweep
        ]
    return main, swept


async def bench_park(sagas: int, workers: int, progress: Progress) -> ParkResult:
    async with bench_stack(10, workers, fault_injection=True) as stack:
        return await park(stack, sagas, workers, progress)


@app.command()
def main(
    sagas: Annotated[int, typer.Option(min=1, help="Sagas in each mode's main run.")] = 1000,
    concurrency: Annotated[int, typer.Option(min=1, help="Sagas in flight at once.")] = 100,
    sweep: Annotated[
        str, typer.Option(help="Concurrency levels measured after the main run ('' for none).")
    ] = "1,10,100,500",
    sweep_sagas: Annotated[int, typer.Option(min=1, help="Sagas per sweep level.")] = 200,
    modes: Annotated[
        str, typer.Option(help="Comma-separated modes.")
    ] = "orchestration,choreography,floor,floor-local",
    warmup: Annotated[int, typer.Option(min=1, help="Unmeasured sagas first.")] = 20,
    seed: Annotated[int, typer.Option(help="Shuffles the outcome mix.")] = 7,
    pairs: Annotated[
        int,
        typer.Option(
            min=1,
            help="Rounds of the modes, each in the reverse order of the last; each ratio is "
            "reported as its median and range over the rounds.",
        ),
    ] = 1,
    workers: Annotated[
        int, typer.Option(min=1, max=16, help="Saga worker processes (orchestration).")
    ] = 1,
    park_sagas: Annotated[
        int,
        typer.Option(
            "--park", min=0, help="Then park this many sagas at the charge and drain them."
        ),
    ] = 0,
    out: Annotated[Path, typer.Option(file_okay=False)] = Path("bench/results"),
) -> None:
    """Drive sagas through each mode and write bench/results/<timestamp>.{json,md,png}."""
    began = time.monotonic()
    chosen = [Mode(name.strip()) for name in modes.split(",") if name.strip()]
    levels = _levels(sweep)
    main_results: list[RunResult] = []
    sweep_results: list[RunResult] = []
    columns = (
        TextColumn("{task.description:<22}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        for number, order in enumerate(round_orders(chosen, pairs), start=1):
            for mode in order:
                result, swept = asyncio.run(
                    bench_mode(
                        mode,
                        sagas,
                        concurrency,
                        levels,
                        sweep_sagas,
                        warmup,
                        seed,
                        workers,
                        progress,
                    )
                )
                for measured in (result, *swept):
                    measured.round = number
                main_results.append(result)
                sweep_results += swept
        parked = asyncio.run(bench_park(park_sagas, workers, progress)) if park_sagas else None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    command = "python -m bench " + shlex.join(sys.argv[1:])
    paths = report.write(out, stamp, command, main_results, sweep_results, parked)
    console.print(paths["markdown"].read_text(), markup=False)
    for kind, path in paths.items():
        console.print(f"{kind:<12} {path}")
    console.print(f"benchmark took {time.monotonic() - began:.0f} s")


if __name__ == "__main__":
    run_and_exit(app)
