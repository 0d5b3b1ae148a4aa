"""Orchestration against each other mode: the ratios the benchmark reports, from summary rows
(bench/report.py `summary`)."""

from typing import Any

BASE = "orchestration"


def ratios(base: dict[str, Any], other: dict[str, Any]) -> dict[str, float]:
    """`base` over `other`: above 1 is faster for throughput, costlier for CPU and p50."""
    return {
        "throughput": base["sagas_per_second"] / other["sagas_per_second"],
        "cpu_per_saga": base["cpu_ms_per_saga_total"] / other["cpu_ms_per_saga_total"],
        "p50": base["latency_ms"]["p50"] / other["latency_ms"]["p50"],
    }


def tail(row: dict[str, Any], latencies: str = "latency_ms") -> float:
    """p99 over p50: how far the slowest sagas stray from the typical one; `latencies` names
    the row's figures (`latency_ms_after_opening`: without the opening burst)."""
    latency = row[latencies]
    return float(latency["p99"] / latency["p50"])


def against_base(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """`orchestration/<mode>` ratios for every other mode among `rows` (one row per mode);
    none without an orchestration row."""
    by_mode = {row["mode"]: row for row in rows}
    if BASE not in by_mode:
        return {}
    base = by_mode[BASE]
    return {f"{BASE}/{mode}": ratios(base, row) for mode, row in by_mode.items() if mode != BASE}
