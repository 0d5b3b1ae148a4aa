"""Compare benchmark records of two variants (the tuning log's A/B runs), mode by mode:

    python -m bench.compare bench/results/ab/before bench/results/ab/after

Each directory holds the JSON records of one variant's runs (interleaved with the other's, so
that a neighbour's load on a shared machine falls on both). Printed per variant: the mean over
its runs of sagas/s, p50/p99, and CPU ms per saga by process and in total (the processes the
mode uses, bench.run.uses_process). CPU per saga is the robust figure:
contention stretches wall time, not the CPU a saga needs.
"""

import json
import statistics
import sys
from pathlib import Path
from typing import Any

from bench.run import Mode, uses_process
from orchestrator.process_exit import run_and_exit


def rows(directory: Path) -> dict[str, list[dict[str, Any]]]:
    by_mode: dict[str, list[dict[str, Any]]] = {}
    for record in sorted(directory.glob("*.json")):
        for row in json.loads(record.read_text())["main"]:
            by_mode.setdefault(row["mode"], []).append(row)
    return by_mode


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    processes = sorted({name for run in runs for name in run["cpu_ms_per_saga"]})
    processes = [name for name in processes if uses_process(Mode(runs[0]["mode"]), name)]
    cpu = {
        name: statistics.mean(run["cpu_ms_per_saga"].get(name, 0.0) for run in runs)
        for name in processes
    }
    return {
        "runs": len(runs),
        "sagas/s": statistics.mean(run["sagas_per_second"] for run in runs),
        "p50 ms": statistics.mean(run["latency_ms"]["p50"] for run in runs),
        "p99 ms": statistics.mean(run["latency_ms"]["p99"] for run in runs),
        "cpu ms/saga": sum(cpu.values()),
        **{f"  {name}": value for name, value in cpu.items()},
    }


def main(directories: list[str]) -> None:
    variants = {Path(directory).name: rows(Path(directory)) for directory in directories}
    modes = sorted({mode for by_mode in variants.values() for mode in by_mode})
    for mode in modes:
        summaries = {
            name: summary(by_mode[mode]) for name, by_mode in variants.items() if mode in by_mode
        }
        keys = list(dict.fromkeys(key for s in summaries.values() for key in s))
        print(f"\n{mode}")
        print(f"{'':<16}" + "".join(f"{name:>14}" for name in summaries))
        for key in keys:
            cells = "".join(f"{s.get(key, float('nan')):>14.2f}" for s in summaries.values())
            print(f"{key:<16}{cells}")


if __name__ == "__main__":
    run_and_exit(lambda: main(sys.argv[1:]))
