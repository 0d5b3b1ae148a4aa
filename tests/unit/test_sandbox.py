"""The worker's sandbox (orchestrator/sandbox.py) runs workflows as the SDK's does: the same
restrictions, the same serialization context for each payload, one compile per entry string."""

import asyncio
import dataclasses
import uuid
from collections.abc import Sequence
from datetime import timedelta

import pytest
import temporalio.converter
from temporalio import activity, workflow
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import WorkflowTaskFailedEventAttributes
from temporalio.client import Client, WorkflowHandle
from temporalio.converter import (
    ActivitySerializationContext,
    PayloadCodec,
    SerializationContext,
    WithSerializationContext,
    WorkflowSerializationContext,
)
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions
from temporalio.worker.workflow_sandbox._runner import _Instance

from orchestrator import sandbox
from orchestrator.ops.histories import replayer
from orchestrator.sandbox import CompiledEntrySandboxedWorkflowRunner
from orchestrator.temporal import workflow_runner

RESTRICTIONS = SandboxRestrictions.default.with_passthrough_all_modules()


@activity.defn
async def echo(text: str) -> str:
    return text


@workflow.defn
class OneActivity:
    @workflow.run
    async def run(self, text: str) -> str:
        return await workflow.execute_activity(
            echo, text, start_to_close_timeout=timedelta(seconds=10)
        )


@workflow.defn
class ReadsAFile:
    @workflow.run
    async def run(self) -> str:
        with open("/etc/hostname") as file:
            return file.read()


@dataclasses.dataclass(frozen=True)
class RecordingCodec(PayloadCodec, WithSerializationContext):
    """A codec that notes the serialization context each payload was encoded under."""

    seen: list[SerializationContext | None]
    context: SerializationContext | None = None

    def with_context(self, context: SerializationContext) -> "RecordingCodec":
        return dataclasses.replace(self, context=context)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        self.seen.extend(self.context for _ in payloads)
        return list(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)


async def _contexts_seen(env: WorkflowEnvironment, runner: WorkflowRunner) -> list[object]:
    seen: list[SerializationContext | None] = []
    converter = dataclasses.replace(
        temporalio.converter.default(), payload_codec=RecordingCodec(seen)
    )
    config = env.client.config()
    config["data_converter"] = converter
    client = Client(**config)
    queue = f"sandbox-{uuid.uuid4()}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[OneActivity],
        activities=[echo],
        workflow_runner=runner,
    ):
        result = await client.execute_workflow(
            OneActivity.run, "hello", id=f"one-activity-{uuid.uuid4()}", task_queue=queue
        )
    assert result == "hello"
    # Workflow ids differ between runs; the kinds of context and the activity's type do not.
    return [(type(context).__name__, getattr(context, "activity_type", None)) for context in seen]


async def _first_failed_task(handle: WorkflowHandle) -> WorkflowTaskFailedEventAttributes:
    for _ in range(200):
        async for event in handle.fetch_history_events():
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                return event.workflow_task_failed_event_attributes
        await asyncio.sleep(0.05)
    raise AssertionError("no workflow task failed")


def test_the_worker_and_the_replayer_run_workflows_in_the_compiled_entry_sandbox() -> None:
    assert isinstance(workflow_runner(), CompiledEntrySandboxedWorkflowRunner)
    assert isinstance(replayer().config()["workflow_runner"], CompiledEntrySandboxedWorkflowRunner)


def test_the_sdk_still_has_the_private_names_the_runner_overrides() -> None:
    # An SDK upgrade that renamed them would silently bypass the overrides.
    for name in ("_run_code", "get_serialization_context", "get_external_store_context"):
        assert name in vars(_Instance), name


async def test_each_payload_gets_the_same_serialization_context_as_in_the_sdks_sandbox(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    stock = await _contexts_seen(time_skipping_env, SandboxedWorkflowRunner(RESTRICTIONS))
    compiled = await _contexts_seen(
        time_skipping_env, CompiledEntrySandboxedWorkflowRunner(RESTRICTIONS)
    )

    assert compiled == stock
    assert (ActivitySerializationContext.__name__, "echo") in compiled
    assert (WorkflowSerializationContext.__name__, None) in compiled


@pytest.mark.parametrize("runner", [SandboxedWorkflowRunner, CompiledEntrySandboxedWorkflowRunner])
async def test_workflow_code_is_as_restricted_in_the_compiled_entry_sandbox_as_in_the_sdks(
    time_skipping_env: WorkflowEnvironment, runner: type[SandboxedWorkflowRunner]
) -> None:
    queue = f"sandbox-{uuid.uuid4()}"
    async with Worker(
        time_skipping_env.client,
        task_queue=queue,
        workflows=[ReadsAFile],
        workflow_runner=runner(RESTRICTIONS),
    ):
        handle = await time_skipping_env.client.start_workflow(
            ReadsAFile.run,
            id=f"reads-a-file-{uuid.uuid4()}",
            task_queue=queue,
            execution_timeout=timedelta(seconds=30),
        )
        failed_task = await _first_failed_task(handle)
        await handle.terminate()

    assert failed_task is not None
    assert failed_task.failure.application_failure_info.type == "RestrictedWorkflowAccessError"
    assert "__builtins__.open" in failed_task.failure.message


def test_each_entry_string_is_compiled_once() -> None:
    compiled = sandbox._compiled("x = 1\n")

    assert sandbox._compiled("x = 1\n") is compiled
