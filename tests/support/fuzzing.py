"""Fuzzing an OpenAPI spec with schemathesis, the way a user would run it: its CLI against a
real server, deterministic (the same cases every run, so CI cannot flake on a new random
draw), with the case count read from its summary for docs/reliability.md.

Checks: every built-in check but `positive_data_acceptance`, which takes any refusal of a
schema-valid request as a failure, while here schema-valid requests are refused by business
rules (402 for a declined card, 404 for an unknown course, 409 for a conflict).
"""

import re
import subprocess
import sysconfig
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

SCHEMATHESIS = Path(sysconfig.get_path("scripts")) / "schemathesis"
CONFIG_FILE = Path(__file__).with_name("schemathesis.toml")
# Per operation, for the random (fuzzing) phase; the coverage phase adds its own boundary and
# negative cases. Keeps the three specs at a few hundred cases in total.
EXAMPLES_PER_OPERATION = 5


@dataclass(frozen=True)
class FuzzRun:
    exit_code: int
    output: str

    @property
    def cases(self) -> int:
        found = re.search(r"(\d+) generated", self.output)
        return int(found.group(1)) if found else 0

    @property
    def operations_tested(self) -> tuple[int, int]:
        """(tested, total) operations of the spec."""
        selected = re.search(r"Selected: (\d+)/(\d+)", self.output)
        tested = re.search(r"Tested: (\d+)", self.output)
        if not selected or not tested:
            return (0, -1)
        return (int(tested.group(1)), int(selected.group(2)))

    def report(self) -> str:
        """The run's summary lines, or the end of it when it failed (a failing case can be
        megabytes long)."""
        if self.exit_code != 0:
            return self.output[-20_000:]
        return self.output[self.output.find("SUMMARY") :]


def fuzz_command(base_url: str, *options: str) -> list[str]:
    return [
        str(SCHEMATHESIS),
        "--config-file",
        str(CONFIG_FILE),
        "run",
        f"{base_url}/openapi.json",
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        str(EXAMPLES_PER_OPERATION),
        "--generation-deterministic",
        "--exclude-checks",
        "positive_data_acceptance",
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--no-color",
        *options,
    ]


def fuzz(base_url: str, *options: str, headers: Mapping[str, str] | None = None) -> FuzzRun:
    """Run schemathesis against the spec served at `base_url`, sending `headers` (credentials)
    with every request; blocks until it is done. Where the spec declares a security scheme,
    schemathesis also checks that requests without them are refused (`ignored_auth`)."""
    for name, value in (headers or {}).items():
        options += ("--header", f"{name}: {value}")
    result = subprocess.run(
        fuzz_command(base_url, *options), capture_output=True, text=True, timeout=600
    )
    return FuzzRun(result.returncode, result.stdout + result.stderr)
