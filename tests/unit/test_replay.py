"""Recorded saga histories replay on the current workflow code (a determinism check in CI).

The histories in tests/histories were recorded on real parts by `scripts/export_histories.py`;
those under `pre-record-failure-in-memo/` were recorded before `workflow.patched` guarded the
memo upsert, and must keep replaying for as long as such runs may still be open.
"""

from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from orchestrator.histories import from_files, history_files, load_history, replay
from workflows.contracts import SagaInput, SagaState
from workflows.saga import RECORD_FAILURE_IN_MEMO, StudentOnboardingSaga

HISTORIES = Path(__file__).resolve().parent.parent / "histories"
PRE_PATCH = HISTORIES / "pre-record-failure-in-memo"
SCENARIOS = {
    "completed",
    "declined",
    "course-full",
    "confirm-refused",
    "transient-billing-outage",
    "retried",
    "worker-crash",
}
FAILED_SCENARIOS = ["declined", "course-full", "confirm-refused"]


def _history(path: Path) -> WorkflowHistory:
    return load_history(path, HISTORIES)


def _patch_markers(history: WorkflowHistory) -> int:
    return sum(event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED for event in history.events)


def test_every_scenario_has_a_history_recorded_by_the_current_and_the_pre_patch_code() -> None:
    assert {path.stem for path in HISTORIES.glob("*.json")} == SCENARIOS
    assert {path.stem for path in PRE_PATCH.glob("*.json")} == SCENARIOS


@pytest.mark.parametrize(
    "path", history_files(HISTORIES), ids=lambda p: str(p.relative_to(HISTORIES))
)
async def test_a_recorded_history_replays_on_the_current_workflow_code(path: Path) -> None:
    outcomes = await replay(from_files([path], HISTORIES))

    assert len(outcomes) == 1
    assert outcomes[0].failure is None, outcomes[0].failure


@pytest.mark.parametrize("scenario", FAILED_SCENARIOS)
def test_failed_sagas_recorded_after_the_patch_carry_its_marker(scenario: str) -> None:
    assert _patch_markers(_history(HISTORIES / f"{scenario}.json")) == 1
    assert _patch_markers(_history(PRE_PATCH / f"{scenario}.json")) == 0


# Unsandboxed: the sandbox would re-import this test module, whose constants read the disk.
@workflow.defn(name="StudentOnboardingSaga", sandboxed=False)
class SagaRecordingFailureWithoutPatch(StudentOnboardingSaga):
    """The same change made carelessly: the memo upsert without `workflow.patched`."""

    @workflow.run
    async def run(self, saga: SagaInput) -> SagaState:
        return await super().run(saga)

    def _record_failure(self) -> None:
        state = self._require_state()
        workflow.upsert_memo({"failure_reason": state.failure_reason})


@pytest.mark.parametrize("scenario", FAILED_SCENARIOS)
async def test_the_same_change_without_the_patch_would_break_runs_recorded_before_it(
    scenario: str,
) -> None:
    careless = Replayer(
        workflows=[SagaRecordingFailureWithoutPatch], data_converter=pydantic_data_converter
    )

    result = await careless.replay_workflow(
        _history(PRE_PATCH / f"{scenario}.json"), raise_on_replay_failure=False
    )

    assert result.replay_failure is not None
    assert "nondetermin" in str(result.replay_failure).lower()


def test_the_patch_id_is_the_one_the_docs_name() -> None:
    assert RECORD_FAILURE_IN_MEMO == "record-failure-in-memo"
