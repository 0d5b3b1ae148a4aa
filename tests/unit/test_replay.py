"""Recorded saga histories replay on the current workflow code (a determinism check in CI).

The histories in tests/histories were recorded on real parts by `tests/support/record_histories.py`.
Older shapes sit beside them and must keep replaying for as long as such runs may be open:
`pre-local-compensations/` was recorded when compensations were regular activities only,
`pre-local-forward-steps/` before that, when every step was, and `pre-record-failure-in-memo/`
before that, when no failure was written into the memo. `course-transfer/` holds the second
saga type's (a refund of the difference, a declined charge of it, nothing to settle).
"""

from dataclasses import replace
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from orchestrator.ops.histories import from_files, history_files, load_history, replay
from sagas.runner import SagaRunner
from workflows.contracts import SagaInput, SagaState, Step
from workflows.onboarding import (
    LOCAL_COMPENSATIONS,
    LOCAL_FORWARD_STEPS,
    ONBOARDING,
    PATCHES,
    RECORD_FAILURE_IN_MEMO,
    StudentOnboardingSaga,
)

HISTORIES = Path(__file__).resolve().parent.parent / "histories"
PRE_PATCH = HISTORIES / "pre-record-failure-in-memo"
PRE_LOCAL = HISTORIES / "pre-local-forward-steps"
PRE_LOCAL_COMPENSATIONS = HISTORIES / "pre-local-compensations"
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
COMPENSATED_SCENARIOS = ["declined", "confirm-refused"]  # course-full has nothing to undo


def _history(path: Path) -> WorkflowHistory:
    return load_history(path, HISTORIES)


def _patch_markers(history: WorkflowHistory, patch_id: str) -> int:
    return sum(
        event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
        and event.marker_recorded_event_attributes.marker_name == "core_patch"
        and patch_id.encode()
        in event.marker_recorded_event_attributes.details["patch-data"].payloads[0].data
        for event in history.events
    )


def _scheduled_steps(history: WorkflowHistory) -> list[str]:
    return [
        event.activity_task_scheduled_event_attributes.activity_type.name
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]


def test_the_course_transfer_has_histories_of_each_of_its_paths() -> None:
    recorded = {path.stem for path in (HISTORIES / "course-transfer").glob("*.json")}
    assert recorded == {"refunding", "declined", "same-price"}


def test_every_scenario_has_a_history_recorded_by_the_current_and_each_older_code() -> None:
    for directory in (HISTORIES, PRE_LOCAL_COMPENSATIONS, PRE_LOCAL, PRE_PATCH):
        assert {path.stem for path in directory.glob("*.json")} == SCENARIOS, directory


@pytest.mark.parametrize(
    "path", history_files(HISTORIES), ids=lambda p: str(p.relative_to(HISTORIES))
)
async def test_a_recorded_history_replays_on_the_current_workflow_code(path: Path) -> None:
    outcomes = await replay(from_files([path], HISTORIES))

    assert len(outcomes) == 1
    assert outcomes[0].failure is None, outcomes[0].failure


@pytest.mark.parametrize("scenario", FAILED_SCENARIOS)
def test_failed_sagas_recorded_after_the_patch_carry_its_marker(scenario: str) -> None:
    assert _patch_markers(_history(HISTORIES / f"{scenario}.json"), RECORD_FAILURE_IN_MEMO) == 1
    assert _patch_markers(_history(PRE_LOCAL / f"{scenario}.json"), RECORD_FAILURE_IN_MEMO) == 1
    assert _patch_markers(_history(PRE_PATCH / f"{scenario}.json"), RECORD_FAILURE_IN_MEMO) == 0


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_sagas_recorded_since_local_steps_carry_that_patch_and_schedule_fewer_activities(
    scenario: str,
) -> None:
    current = _history(HISTORIES / f"{scenario}.json")
    before = _history(PRE_LOCAL / f"{scenario}.json")

    assert _patch_markers(current, LOCAL_FORWARD_STEPS) == 1
    assert _patch_markers(before, LOCAL_FORWARD_STEPS) == 0
    assert len(_scheduled_steps(current)) < len(_scheduled_steps(before))


@pytest.mark.parametrize("scenario", COMPENSATED_SCENARIOS)
def test_sagas_recorded_since_local_compensations_carry_that_patch_and_schedule_no_undo(
    scenario: str,
) -> None:
    """Their services answered at once: every compensation settled in its local try."""
    current = _history(HISTORIES / f"{scenario}.json")
    before = _history(PRE_LOCAL_COMPENSATIONS / f"{scenario}.json")

    assert _patch_markers(current, LOCAL_COMPENSATIONS) == 1
    assert _patch_markers(before, LOCAL_COMPENSATIONS) == 0
    assert _scheduled_steps(current) == []
    assert set(_scheduled_steps(before)) <= {Step.CANCEL_ENROLLMENT, Step.REFUND_CHARGE}
    assert _scheduled_steps(before)


class CarelessSaga(StudentOnboardingSaga):
    """The onboarding saga with one of the kit's features on for every run, old or new: the
    change made carelessly, without its `workflow.patched`."""

    patch = ""

    def __init__(self) -> None:
        careless = replace(ONBOARDING, patches=replace(PATCHES, **{self.patch: None}))
        self._saga = SagaRunner[SagaInput, SagaState](careless)


# Unsandboxed: the sandbox would re-import this test module, whose constants read the disk.
@workflow.defn(name="StudentOnboardingSaga", sandboxed=False)
class SagaRecordingFailureWithoutPatch(CarelessSaga):
    patch = "failure_memo"

    @workflow.run
    async def run(self, saga: SagaInput) -> SagaState:
        return await super().run(saga)


@workflow.defn(name="StudentOnboardingSaga", sandboxed=False)
class SagaWithLocalStepsWithoutPatch(CarelessSaga):
    patch = "local_steps"

    @workflow.run
    async def run(self, saga: SagaInput) -> SagaState:
        return await super().run(saga)


@workflow.defn(name="StudentOnboardingSaga", sandboxed=False)
class SagaWithLocalCompensationsWithoutPatch(CarelessSaga):
    patch = "local_undos"

    @workflow.run
    async def run(self, saga: SagaInput) -> SagaState:
        return await super().run(saga)


# Each patched change made carelessly, and the histories recorded before that change.
CARELESS_CHANGES = [
    *((SagaRecordingFailureWithoutPatch, PRE_PATCH, scenario) for scenario in FAILED_SCENARIOS),
    *((SagaWithLocalStepsWithoutPatch, PRE_LOCAL, scenario) for scenario in sorted(SCENARIOS)),
    *(
        (SagaWithLocalCompensationsWithoutPatch, PRE_LOCAL_COMPENSATIONS, scenario)
        for scenario in COMPENSATED_SCENARIOS
    ),
]


@pytest.mark.parametrize(
    ("careless_saga", "recorded_before", "scenario"),
    CARELESS_CHANGES,
    ids=lambda value: getattr(value, "__name__", getattr(value, "name", value)),
)
async def test_the_same_change_without_its_patch_would_break_runs_recorded_before_it(
    careless_saga: type[StudentOnboardingSaga], recorded_before: Path, scenario: str
) -> None:
    careless = Replayer(workflows=[careless_saga], data_converter=pydantic_data_converter)

    result = await careless.replay_workflow(
        _history(recorded_before / f"{scenario}.json"), raise_on_replay_failure=False
    )

    assert result.replay_failure is not None
    assert "nondetermin" in str(result.replay_failure).lower()


def test_the_patch_ids_are_the_ones_the_docs_name() -> None:
    assert RECORD_FAILURE_IN_MEMO == "record-failure-in-memo"
    assert LOCAL_FORWARD_STEPS == "local-forward-steps"
    assert LOCAL_COMPENSATIONS == "local-compensations"
