"""The workflow sandbox, without two costs the SDK pays on every workflow task.

temporalio 1.35's sandbox (`workflow_sandbox/_runner.py`) enters a workflow run's sandbox by
`exec`-ing a source string, so every entry compiles it again; and the worker enters the
sandbox for every payload it encodes or decodes (six passes over each activation and
completion) only to ask the run which serialization context the payload's command has
(about 50 entries per onboarding saga, most of them for that question). Measured by replaying
recorded histories in-process, the two are a quarter of the worker's CPU per workflow task
(docs/benchmarks.md, tuning log entry 20). Here:

- the entry code is compiled once per distinct string and the code object is `exec`-ed, which
  runs the same statements in the same sandbox, under the same import restrictions;
- the context questions go straight to the run's instance: they read the run's own pending
  commands and build a context object, run no workflow code, import nothing and call nothing
  the sandbox restricts, so they need none of its overrides. Workflow code (activations, the
  instance's creation) still only runs inside the sandbox.

This leans on two private names of the pinned SDK (`_Instance`, its `_run_code` and
`globals_and_locals`); tests/unit/test_sandbox.py fails on an SDK that renamed them, and
the replay and end-to-end tests run every workflow through this runner.
"""

import threading
from types import CodeType
from typing import Any, cast

import temporalio.converter
import temporalio.workflow
from temporalio.worker import WorkflowInstance, WorkflowInstanceDetails
from temporalio.worker._command_aware_visitor import CommandInfo
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox._in_sandbox import InSandbox
from temporalio.worker.workflow_sandbox._runner import _Instance

# The sandbox's entry strings are a handful of constants per workflow type.
_COMPILED: dict[str, CodeType] = {}

_IN_SANDBOX = "__temporal_in_sandbox"


def _compiled(code: str) -> CodeType:
    compiled = _COMPILED.get(code)
    if compiled is None:
        compiled = _COMPILED[code] = compile(code, "workflow_sandbox.py", "exec")
    return compiled


class _CompiledEntryInstance(_Instance):
    def _run_code(self, code: str, **extra_globals: Any) -> None:
        # The SDK's body with `exec(code)` on the compiled code: the same globals, the same
        # in-sandbox flag, the same thread id for deadlock interruption.
        for key, value in extra_globals.items():
            self.globals_and_locals[key] = value
        try:
            temporalio.workflow.unsafe._set_in_sandbox(True)
            self._current_thread_id = threading.get_ident()
            exec(_compiled(code), self.globals_and_locals, self.globals_and_locals)
        finally:
            temporalio.workflow.unsafe._set_in_sandbox(False)
            self._current_thread_id = None
            for key in extra_globals:
                self.globals_and_locals.pop(key, None)

    def _in_sandbox(self) -> InSandbox:
        return cast(InSandbox, self.globals_and_locals[_IN_SANDBOX])

    def get_serialization_context(
        self, command_info: CommandInfo | None
    ) -> temporalio.converter.SerializationContext | None:
        return self._in_sandbox().get_serialization_context(command_info)

    def get_external_store_context(self, command_info: CommandInfo | None) -> Any:
        return self._in_sandbox().get_external_store_context(command_info)


class CompiledEntrySandboxedWorkflowRunner(SandboxedWorkflowRunner):
    """`SandboxedWorkflowRunner` with the same restrictions, minus the per-entry compile and
    the sandbox entry for each payload's serialization context."""

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        return _CompiledEntryInstance(det, self.runner_class, self.restrictions)
