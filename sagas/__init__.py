"""The saga kit: declare a saga as steps with their undos; run it inside a Temporal workflow.

Temporal only, no I/O. `sagas` itself (the declarations, the ledger, the failure types) imports
no framework, so the API, the choreography and the services read a saga's progress without
Temporal; `sagas.runner.SagaRunner` runs a declared saga inside a workflow.
docs/writing-a-saga.md tells how to write a saga with it.
"""

from sagas.failures import ErrorType, FailureKind, SagaFailure
from sagas.ledger import (
    TERMINAL_STATUSES,
    LedgerEntry,
    Outcome,
    Role,
    SagaProgress,
    SagaStatus,
)
from sagas.policy import SagaDeadlines, StepPolicy, UndoPolicy
from sagas.steps import Parallel, Patches, SagaDefinition, Step, StepCall, StepKind, Undo

__all__ = [
    "TERMINAL_STATUSES",
    "ErrorType",
    "FailureKind",
    "LedgerEntry",
    "Outcome",
    "Parallel",
    "Patches",
    "Role",
    "SagaDeadlines",
    "SagaDefinition",
    "SagaFailure",
    "SagaProgress",
    "SagaStatus",
    "Step",
    "StepCall",
    "StepKind",
    "StepPolicy",
    "Undo",
    "UndoPolicy",
]
