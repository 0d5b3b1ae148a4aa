"""The layers at run time. import-linter (`make lint`) checks the import graph; these check what a
process really loads, which the graph cannot see (a package's __init__ runs on every import of
one of its modules)."""

import subprocess
import sys

import pytest


def loaded_by(modules: list[str], watched: list[str]) -> set[str]:
    probe = (
        f"import sys\nfor name in {modules!r}: __import__(name)\n"
        f"print(' '.join(sorted({{m.split('.')[0] for m in sys.modules}} & {set(watched)!r})))"
    )
    child = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    return set(child.stdout.split())


@pytest.mark.parametrize(
    "process",
    [
        ["services.enrollment.main", "services.enrollment.__main__"],
        ["services.billing.main", "services.billing.__main__"],
        ["choreography.__main__", "choreography.runtime", "choreography.tracker"],
    ],
    ids=["enrollment", "billing", "choreography"],
)
def test_the_services_and_the_choreography_run_without_temporal(process: list[str]) -> None:
    assert loaded_by(process, ["temporalio", "orchestrator"]) == set()


def test_reading_a_sagas_progress_does_not_load_temporal() -> None:
    assert loaded_by(["sagas", "workflows.contracts"], ["temporalio"]) == set()
