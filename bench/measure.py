"""Figures read off the running processes (Linux /proc) and off the latencies collected."""

import math
import os
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ProcessSample:
    cpu_seconds: float  # user + system, since the process started
    peak_rss_mb: float  # VmHWM: the highest resident set size so far
    rss_mb: float  # VmRSS: the resident set size now


def sample(pid: int) -> ProcessSample:
    # Fields after the command name (which may contain spaces) start at index 2 of stat(5).
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    memory_kb = {"VmHWM:": 0, "VmRSS:": 0}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key = line.split(maxsplit=1)[0] if line else ""
        if key in memory_kb:
            memory_kb[key] = int(line.split()[1])
    return ProcessSample(cpu, memory_kb["VmHWM:"] / 1024, memory_kb["VmRSS:"] / 1024)


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass(frozen=True)
class Latencies:
    p50: float
    p95: float
    p99: float
    max: float

    @classmethod
    def of(cls, seconds: list[float]) -> "Latencies":
        ordered = sorted(seconds)
        return cls(
            percentile(ordered, 0.50),
            percentile(ordered, 0.95),
            percentile(ordered, 0.99),
            ordered[-1] if ordered else float("nan"),
        )
