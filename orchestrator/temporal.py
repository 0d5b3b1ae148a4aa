"""Connecting to Temporal: one place that knows the address, namespace, data converter and how
workflow code runs."""

import dataclasses

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes
from temporalio.runtime import Runtime
from temporalio.service import RPCError, RPCStatusCode, TLSConfig
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from common.payload_keys import PayloadKeys
from orchestrator.codec import EncryptionCodec
from orchestrator.config import TemporalSettings
from orchestrator.sandbox import CompiledEntrySandboxedWorkflowRunner
from workflows.visibility import SEARCH_ATTRIBUTES


async def connect(settings: TemporalSettings, runtime: Runtime | None = None) -> Client:
    """`runtime` carries the worker's metrics endpoint (orchestrator/telemetry.py)."""
    api_key = settings.temporal_api_key
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        api_key=api_key.get_secret_value() if api_key else None,
        tls=tls_config(settings),
        data_converter=data_converter(settings.parsed_payload_keys()),
        runtime=runtime,
    )


def tls_config(settings: TemporalSettings) -> TLSConfig | None:
    """mTLS when a client certificate is configured, TLS with a private CA when only a CA is;
    None otherwise: plaintext, or TLS with the system's CAs when an API key is set."""
    ca = settings.temporal_tls_ca.read_bytes() if settings.temporal_tls_ca else None
    if settings.temporal_tls_cert is not None and settings.temporal_tls_key is not None:
        return TLSConfig(
            server_root_ca_cert=ca,
            client_cert=settings.temporal_tls_cert.read_bytes(),
            client_private_key=settings.temporal_tls_key.read_bytes(),
        )
    if ca is not None:
        return TLSConfig(server_root_ca_cert=ca)
    return None


def data_converter(keys: PayloadKeys | None) -> DataConverter:
    """Pydantic models as JSON, sealed with `keys` when given. With keys, failure messages
    and stack traces move into the sealed payloads too: they can quote personal data."""
    if keys is None:
        return pydantic_data_converter
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=EncryptionCodec(keys),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def workflow_runner() -> SandboxedWorkflowRunner:
    """The sandbox the worker runs workflows in, and every replay of their histories too, so
    that a replay checks the code the way the worker runs it. Every module the workflow imports
    (pydantic, the contracts, ...) is shared with the sandbox instead of being imported afresh
    into each workflow run's own copy, as the SDK advises for speed (docs/benchmarks.md, tuning
    log). The sandbox's builtins restrictions stay (`open`, `input` and `breakpoint` are
    refused: tests/unit/test_sandbox.py); with every module passed through, module members
    such as `datetime.datetime.now` are not intercepted, so the workflows' determinism rests on
    what they import (the import contracts, `make lint`) and on `workflow.now()`.
    orchestrator/sandbox.py takes two of the sandbox's per-task costs away."""
    return CompiledEntrySandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_all_modules()
    )


def workflow_ui_url(settings: TemporalSettings, workflow_id: str, run_id: str | None) -> str:
    base = f"{settings.temporal_ui_url.rstrip('/')}/namespaces/{settings.temporal_namespace}"
    if run_id is None:
        return f"{base}/workflows/{workflow_id}"
    return f"{base}/workflows/{workflow_id}/{run_id}/history"


async def register_search_attributes(client: Client, namespace: str) -> None:
    """Register the saga's custom search attributes; already registered ones are kept.
    `make up` passes them to the dev server instead; this serves other servers and tests."""
    request = AddSearchAttributesRequest(
        namespace=namespace,
        search_attributes={
            key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for key in SEARCH_ATTRIBUTES
        },
    )
    try:
        await client.operator_service.add_search_attributes(request)
    except RPCError as error:
        if error.status != RPCStatusCode.ALREADY_EXISTS:
            raise
