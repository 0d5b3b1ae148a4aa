"""The benchmark's outputs: a JSON record, a markdown table, and PNG plots."""

import json
import os
import platform
from dataclasses import asdict
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

from bench.measure import Latencies
from bench.pairs import RoundsSummary, over_rounds
from bench.park import ParkResult
from bench.run import FLOORS, Mode, RunResult, SagaRecord, uses_process
from bench.workload import Outcome


def summary(result: RunResult) -> dict[str, Any]:
    latency = Latencies.of([record.latency for record in result.records])
    statuses: dict[str, int] = {}
    for record in result.records:
        statuses[record.status] = statuses.get(record.status, 0) + 1
    sagas = len(result.records)
    used_cpu = sum(s for name, s in result.cpu_seconds.items() if uses_process(result.mode, name))
    # The mode's own idea of success: the floor has no refusals, so everything must complete.
    unexpected = sum(
        record.status != _expected_status(result.mode, record.expected) for record in result.records
    )
    return {
        "mode": result.mode.value,
        "round": result.round,
        "concurrency": result.concurrency,
        "sagas": sagas,
        "wall_seconds": round(result.wall_seconds, 3),
        "sagas_per_second": round(result.throughput, 2),
        "latency_ms": _milliseconds(latency),
        # Without the opening burst: the run admits its first `concurrency` sagas at once, and
        # the last of them wait for the whole burst's starts (docs/benchmarks.md, entry 23).
        "latency_ms_after_opening": _milliseconds(
            Latencies.of([record.latency for record in after_opening(result)])
        ),
        # Outcomes take different paths (a compensation is more steps), so their latencies differ.
        "latency_ms_by_outcome": {
            outcome: _milliseconds(Latencies.of(seconds))
            for outcome, seconds in _latencies_by_outcome(result).items()
        },
        "statuses": statuses,
        "unexpected_outcomes": unexpected,
        "cpu_ms_per_saga": {
            name: round(seconds * 1000 / sagas, 2) for name, seconds in result.cpu_seconds.items()
        },
        # Over the processes the mode uses (bench.run.uses_process): what one of its sagas costs.
        "cpu_ms_per_saga_total": round(used_cpu * 1000 / sagas, 2),
        "peak_rss_mb": {name: round(mb, 1) for name, mb in result.peak_rss_mb.items()},
        "history_events_per_saga": result.history_events,
        "broker_messages_per_saga": result.broker_messages,
    }


def after_opening(result: RunResult) -> list[SagaRecord]:
    """The sagas that started once the run was under way: all but the first `concurrency` to
    start (every saga, when the run has no more than that)."""
    by_start = sorted(result.records, key=lambda record: record.started)
    return by_start[result.concurrency :] or by_start


def _milliseconds(latency: Latencies) -> dict[str, float]:
    return {k: round(v * 1000, 1) for k, v in asdict(latency).items()}


def _latencies_by_outcome(result: RunResult) -> dict[str, list[float]]:
    by_outcome: dict[str, list[float]] = {}
    for record in result.records:
        by_outcome.setdefault(record.expected, []).append(record.latency)
    return by_outcome


def _expected_status(mode: Mode, expected: str) -> str:
    if mode in FLOORS or expected == Outcome.SUCCESS:
        return "COMPLETED"
    return "COMPENSATED"


def machine() -> dict[str, Any]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(memory_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def _label(row: dict[str, Any], rounds: int) -> str:
    """The row's mode, and its round when there are several."""
    return row["mode"] if rounds == 1 else f"{row['mode']} r{row['round']}"


def by_round(rows: list[dict[str, Any]], rounds: int) -> list[list[dict[str, Any]]]:
    return [[row for row in rows if row["round"] == number] for number in range(1, rounds + 1)]


METRIC_NAMES = {"cpu_per_saga": "CPU per saga"}


def pairs_markdown(spreads: RoundsSummary, rounds: int, concurrency: int) -> list[str]:
    lines = [f"Over {rounds} interleaved rounds, median (min-max):"] if rounds > 1 else []
    for name, metrics in spreads.ratios.items():
        found = ", ".join(
            f"{METRIC_NAMES.get(metric, metric)} {spread.text()}"
            for metric, spread in metrics.items()
        )
        lines.append(f"{name}: {found}")
    tails = ", ".join(f"{mode} {spread.text('')}" for mode, spread in spreads.tails.items())
    settled = ", ".join(
        f"{mode} {spread.text('')}" for mode, spread in spreads.tails_after_opening.items()
    )
    return [
        *lines,
        f"p99/p50 at c={concurrency}: {tails}",
        f"p99/p50 at c={concurrency} without the opening burst (the first {concurrency} sagas, "
        f"admitted at once): {settled}",
    ]


def markdown(main: list[dict[str, Any]], sweep: list[dict[str, Any]]) -> str:
    rounds = max(row["round"] for row in main)
    lines = [
        "| mode | sagas | concurrency | sagas/s | p50 ms | p95 ms | p99 ms | max ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in main:
        latency = row["latency_ms"]
        lines.append(
            f"| {_label(row, rounds)} | {row['sagas']} | {row['concurrency']} | "
            f"{row['sagas_per_second']} | {latency['p50']} | {latency['p95']} | "
            f"{latency['p99']} | {latency['max']} |"
        )
    spreads = over_rounds(by_round(main, rounds), by_round(sweep, rounds))
    lines += ["", *pairs_markdown(spreads, rounds, main[0]["concurrency"]), ""]
    processes = sorted({name for row in main for name in row["cpu_ms_per_saga"]})
    by_mode_name = [_label(row, rounds) for row in main]
    lines += ["CPU ms per saga, by process (total: the processes the mode uses):", ""]
    cpu_rows = [row["cpu_ms_per_saga"] | {"total": row["cpu_ms_per_saga_total"]} for row in main]
    lines += process_table(by_mode_name, cpu_rows, [*processes, "total"])
    lines += ["", "Peak RSS MB, by process:", ""]
    lines += process_table(by_mode_name, [row["peak_rss_mb"] for row in main], processes)
    lines += ["", "History events per saga, by outcome:", ""]
    for row in main:
        if row["history_events_per_saga"]:
            events = ", ".join(f"{k} {v:g}" for k, v in row["history_events_per_saga"].items())
            lines.append(f"- {_label(row, rounds)}: {events}")
    for row in main:
        if row["broker_messages_per_saga"]:
            messages = ", ".join(f"{k} {v:g}" for k, v in row["broker_messages_per_saga"].items())
            lines.append(f"- {_label(row, rounds)}: broker messages per saga: {messages}")
    lines += ["", "Latency by expected outcome, p50 / p99 ms:", ""]
    for row in main:
        by_outcome = ", ".join(
            f"{outcome} {latency['p50']} / {latency['p99']}"
            for outcome, latency in row["latency_ms_by_outcome"].items()
        )
        lines.append(f"- {_label(row, rounds)}: {by_outcome}")
    if sweep:
        lines += ["", "Concurrency sweep:", ""]
        lines.append("| mode | concurrency | sagas | sagas/s | p50 ms | p99 ms |")
        lines.append("| --- | ---: | ---: | ---: | ---: | ---: |")
        for row in sweep:
            latency = row["latency_ms"]
            lines.append(
                f"| {_label(row, rounds)} | {row['concurrency']} | {row['sagas']} | "
                f"{row['sagas_per_second']} | {latency['p50']} | {latency['p99']} |"
            )
    return "\n".join(lines) + "\n"


def process_table(
    labels: list[str], rows: list[dict[str, float]], processes: list[str], first: str = "mode"
) -> list[str]:
    """A markdown table: one row per label, one column per process ("-" where absent)."""
    lines = [f"| {first} | " + " | ".join(processes) + " |", "| --- |" + " ---: |" * len(processes)]
    for label, row in zip(labels, rows, strict=True):
        lines.append(
            f"| {label} | " + " | ".join(str(row.get(name, "-")) for name in processes) + " |"
        )
    return lines


def park_markdown(park: dict[str, Any]) -> str:
    """The in-flight capacity run: what each process held and spent while parked and draining."""
    lines = [
        f"In-flight capacity: {park['sagas']} sagas parked at the charge, "
        f"{park['workers']} worker process(es).",
        "",
        f"- started and held in {park['start_seconds']:.1f} s; drained in "
        f"{park['drain_seconds']:.1f} s ({park['sagas'] / park['drain_seconds']:.1f} sagas/s), "
        f"{park['confirmed']} confirmed",
        "",
    ]
    phases = {
        "RSS MB, parked": park["parked_rss_mb"],
        "CPU % of a core, parked": park["parked_cpu_percent"],
        "CPU ms/saga, starting": park["start_cpu_ms_per_saga"],
        "CPU ms/saga, draining": park["drain_cpu_ms_per_saga"],
        "RSS MB, drained": park["drained_rss_mb"],
        "peak RSS MB": park["peak_rss_mb"],
    }
    processes = sorted({name for row in phases.values() for name in row})
    lines += process_table(list(phases), list(phases.values()), processes, first="")
    return "\n".join(lines) + "\n"


def _plot_label(result: RunResult) -> str:
    return f"{result.mode} (x{result.concurrency}, round {result.round})"


def plot_latency_cdf(results: list[RunResult], path: Path) -> None:
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for result in results:
        latencies = sorted(record.latency * 1000 for record in result.records)
        fractions = [(index + 1) / len(latencies) for index in range(len(latencies))]
        axes.plot(latencies, fractions, label=_plot_label(result))
    axes.set_xlabel("end-to-end latency (ms)")
    axes.set_ylabel("fraction of sagas")
    axes.set_xscale("log")
    axes.grid(True, alpha=0.3)
    axes.legend()
    axes.set_title("Latency CDF per mode")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_throughput(results: list[RunResult], path: Path) -> None:
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for result in results:
        seconds = int(result.wall_seconds) + 1
        per_second = [0] * seconds
        for record in result.records:
            per_second[min(int(record.finished), seconds - 1)] += 1
        axes.plot(range(seconds), per_second, label=_plot_label(result))
    axes.set_xlabel("seconds since start")
    axes.set_ylabel("sagas finished per second")
    axes.grid(True, alpha=0.3)
    axes.legend()
    axes.set_title("Throughput over time")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write(
    out: Path,
    stamp: str,
    command: str,
    main: list[RunResult],
    sweep: list[RunResult],
    park: ParkResult | None = None,
) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    main_rows = [summary(result) for result in main]
    sweep_rows = [summary(result) for result in sweep]
    paths = {
        "json": out / f"{stamp}.json",
        "markdown": out / f"{stamp}.md",
        "latency_cdf": out / f"{stamp}-latency-cdf.png",
        "throughput": out / f"{stamp}-throughput.png",
    }
    park_row = asdict(park) if park else None
    record: dict[str, Any] = {
        "command": command,
        "machine": machine(),
        "main": main_rows,  # every round's, each row with its round
        "sweep": sweep_rows,
        "park": park_row,
    }
    if main_rows:
        rounds = max(row["round"] for row in main_rows)
        spreads = over_rounds(by_round(main_rows, rounds), by_round(sweep_rows, rounds))
        orders = [[row["mode"] for row in rows] for rows in by_round(main_rows, rounds)]
        record["pairs"] = {"rounds": rounds, "orders": orders, **spreads.json()}
    paths["json"].write_text(json.dumps(record, indent=2) + "\n")
    table = markdown(main_rows, sweep_rows) if main_rows else ""
    if park_row:
        table += ("\n" if table else "") + park_markdown(park_row)
    paths["markdown"].write_text(table)
    if main:
        plot_latency_cdf(main, paths["latency_cdf"])
        plot_throughput(main, paths["throughput"])
    else:
        del paths["latency_cdf"], paths["throughput"]
    return paths
