"""Interleaved rounds (`--pairs N`): one run of a mode against another on a noisy, shared host
is not a measurement, so the modes run N times, alternating their order (A,B,C then C,B,A) so
that a drift in the host's load falls on each alike, and each ratio is reported as its median
and range over the rounds."""

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from bench.ratios import against_base, tail

T = TypeVar("T")


def round_orders(modes: Sequence[T], rounds: int) -> list[list[T]]:
    """The modes' order in each round: as given, then reversed, and so on."""
    return [list(modes) if index % 2 == 0 else list(reversed(modes)) for index in range(rounds)]


@dataclass(frozen=True)
class Spread:
    median: float
    low: float
    high: float
    values: tuple[float, ...]  # one per round, in the order run

    @classmethod
    def of(cls, values: Sequence[float]) -> "Spread":
        if not values:
            raise ValueError("a spread needs at least one value")
        return cls(statistics.median(values), min(values), max(values), tuple(values))

    def text(self, unit: str = "x") -> str:
        """`0.94x (0.90-0.97)`, or `0.94x` when there is one value."""
        if len(self.values) == 1:
            return f"{self.median:.2f}{unit}"
        return f"{self.median:.2f}{unit} ({self.low:.2f}-{self.high:.2f})"

    def json(self) -> dict[str, Any]:
        rounded = [round(value, 3) for value in self.values]
        return {
            "median": round(self.median, 3),
            "min": round(self.low, 3),
            "max": round(self.high, 3),
            "rounds": rounded,
        }


@dataclass(frozen=True)
class RoundsSummary:
    ratios: dict[str, dict[str, Spread]]  # "orchestration/floor" -> "throughput" -> spread
    tails: dict[str, Spread]  # mode -> p99/p50 of its main run
    tails_after_opening: dict[str, Spread]  # the same without the run's opening burst

    def json(self) -> dict[str, Any]:
        return {
            "ratios": {
                name: {metric: spread.json() for metric, spread in metrics.items()}
                for name, metrics in self.ratios.items()
            },
            "p99_over_p50": {mode: spread.json() for mode, spread in self.tails.items()},
            "p99_over_p50_after_opening": {
                mode: spread.json() for mode, spread in self.tails_after_opening.items()
            },
        }


def over_rounds(
    main: list[list[dict[str, Any]]], sweep: list[list[dict[str, Any]]]
) -> RoundsSummary:
    """Each round's ratios (`main[r]`: the summary rows of round r's main runs, `sweep[r]` of
    its sweep runs), gathered into spreads. A sweep level adds `p50 at c=<level>`."""
    per_ratio: dict[str, dict[str, list[float]]] = {}
    per_mode: dict[str, list[float]] = {}
    per_mode_after_opening: dict[str, list[float]] = {}
    for main_rows, sweep_rows in zip(main, sweep, strict=True):
        for name, found in against_base(main_rows).items():
            for metric, value in found.items():
                per_ratio.setdefault(name, {}).setdefault(metric, []).append(value)
        levels = sorted({row["concurrency"] for row in sweep_rows})
        for level in levels:
            at_level = [row for row in sweep_rows if row["concurrency"] == level]
            for name, found in against_base(at_level).items():
                per_ratio.setdefault(name, {}).setdefault(f"p50 at c={level}", []).append(
                    found["p50"]
                )
        for row in main_rows:
            per_mode.setdefault(row["mode"], []).append(tail(row))
            if "latency_ms_after_opening" in row:
                per_mode_after_opening.setdefault(row["mode"], []).append(
                    tail(row, "latency_ms_after_opening")
                )
    return RoundsSummary(
        {
            name: {metric: Spread.of(values) for metric, values in metrics.items()}
            for name, metrics in per_ratio.items()
        },
        {mode: Spread.of(values) for mode, values in per_mode.items()},
        {mode: Spread.of(values) for mode, values in per_mode_after_opening.items()},
    )
