"""The saga types this orchestrator runs, listed once.

Everything that handles "a saga" without knowing which reads this list: the worker (which
workflows to run), the replayer and `saga replay`, retry / bulk retry / reset, the invariant
checker, `make chaos`, `make bench`, the API and the CLI. A new saga type is one entry here
(plus its workflow file and its activities): docs/writing-a-saga.md.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from temporalio.common import SearchAttributeKey, WorkflowIDReusePolicy

from sagas import SagaDefinition, SagaProgress
from workflows import contracts, onboarding, transfer
from workflows.visibility import COURSE_ID, STUDENT_ID

Labels = list[tuple[SearchAttributeKey[str], str]]


@dataclass(frozen=True)
class SagaType:
    name: str  # the SagaType search attribute, `saga_type` in the API, `?type=` in lists
    workflow: type
    definition: SagaDefinition[Any]
    input_type: type[BaseModel]
    state_type: type[SagaProgress]
    # The id scheme: workflow id = prefix + key; saga id = saga_id_prefix + key, where the key
    # is the student id for both types here.
    workflow_id_prefix: str
    saga_id_prefix: str
    key_of: Callable[[Any], str]  # the key, from the saga's input
    labels: Callable[[Any], Labels]  # the saga's own search attributes, from its input
    describe: Callable[[Any], str]  # the Temporal UI's summary of a run (no personal data)
    # What a retry may correct: these fields of the input, by name, to a new value.
    corrections: Callable[[Any, Mapping[str, str]], Any]
    correctable: frozenset[str]
    # May the workflow id be used again once a run closed? Onboarding: never (one saga per
    # student, retried only explicitly); transfer: yes (one transfer at a time).
    id_reuse: WorkflowIDReusePolicy

    @property
    def workflow_type(self) -> str:
        return self.workflow.__name__

    def workflow_id(self, saga_id: str) -> str:
        return self.workflow_id_prefix + saga_id.removeprefix(self.saga_id_prefix)

    def saga_id(self, workflow_id: str) -> str:
        return self.saga_id_prefix + workflow_id.removeprefix(self.workflow_id_prefix)

    def key(self, saga_id: str) -> str:
        """The student id a saga id names."""
        return saga_id.removeprefix(self.saga_id_prefix)

    def saga_id_for_input(self, saga_input: Any) -> str:
        return self.saga_id_prefix + self.key_of(saga_input)


def _correct_onboarding(saga: contracts.SagaInput, changes: Mapping[str, str]) -> Any:
    event = contracts.NewStudent.model_validate({**saga.event.model_dump(), **changes})
    return contracts.SagaInput(event=event, deadlines=saga.deadlines)


def _correct_transfer(saga: transfer.TransferInput, changes: Mapping[str, str]) -> Any:
    request = transfer.CourseTransfer.model_validate({**saga.transfer.model_dump(), **changes})
    return saga.model_copy(update={"transfer": request})


ONBOARDING = SagaType(
    name=onboarding.SAGA_TYPE,
    workflow=onboarding.StudentOnboardingSaga,
    definition=onboarding.ONBOARDING,
    input_type=contracts.SagaInput,
    state_type=contracts.SagaState,
    workflow_id_prefix=contracts.WORKFLOW_ID_PREFIX,
    saga_id_prefix="",
    key_of=lambda saga: saga.event.student_id,
    labels=lambda saga: [(STUDENT_ID, saga.event.student_id), (COURSE_ID, saga.event.course_id)],
    describe=lambda saga: f"student onboarding into {saga.event.course_id}",
    corrections=_correct_onboarding,
    correctable=frozenset({"payment_token", "course_id"}),
    id_reuse=WorkflowIDReusePolicy.REJECT_DUPLICATE,
)

TRANSFER = SagaType(
    name=transfer.SAGA_TYPE,
    workflow=transfer.CourseTransferSaga,
    definition=transfer.TRANSFER,
    input_type=transfer.TransferInput,
    state_type=transfer.TransferState,
    workflow_id_prefix=transfer.WORKFLOW_ID_PREFIX,
    saga_id_prefix=transfer.SAGA_ID_PREFIX,
    key_of=lambda saga: saga.transfer.student_id,
    labels=lambda saga: [
        (STUDENT_ID, saga.transfer.student_id),
        (COURSE_ID, saga.transfer.to_course_id),
    ],
    describe=lambda saga: (
        f"course transfer from {saga.transfer.from_course_id} to {saga.transfer.to_course_id}"
    ),
    corrections=_correct_transfer,
    correctable=frozenset({"payment_token"}),
    id_reuse=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
)

SAGA_TYPES = (ONBOARDING, TRANSFER)
BY_NAME = {saga_type.name: saga_type for saga_type in SAGA_TYPES}
WORKFLOWS = [saga_type.workflow for saga_type in SAGA_TYPES]
# Every saga, in a visibility query.
ALL_SAGAS = "WorkflowType IN ({})".format(
    ", ".join(f'"{saga_type.workflow_type}"' for saga_type in SAGA_TYPES)
)
UNDO_ACTIVITIES = frozenset().union(
    *(saga_type.definition.undo_names() for saga_type in SAGA_TYPES)
)


class UnknownSagaType(Exception):
    def __init__(self, name: str) -> None:
        known = ", ".join(BY_NAME)
        super().__init__(f"No saga type '{name}' (known: {known}).")


def by_name(name: str) -> SagaType:
    try:
        return BY_NAME[name]
    except KeyError:
        raise UnknownSagaType(name) from None


def for_workflow_id(workflow_id: str) -> SagaType | None:
    for saga_type in SAGA_TYPES:
        if workflow_id.startswith(saga_type.workflow_id_prefix):
            return saga_type
    return None


def for_saga_id(saga_id: str) -> SagaType:
    """Saga ids of types with a prefix hold a `~`; a plain student id is an onboarding's."""
    for saga_type in SAGA_TYPES:
        if saga_type.saga_id_prefix and saga_id.startswith(saga_type.saga_id_prefix):
            return saga_type
    return ONBOARDING


def student_id_of(workflow_id: str) -> str | None:
    """The student a saga's workflow id names, whatever its type; None for other workflows."""
    saga_type = for_workflow_id(workflow_id)
    return saga_type.key(saga_type.saga_id(workflow_id)) if saga_type else None
