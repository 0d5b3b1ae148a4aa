"""Unit-test fixtures: Temporal's time-skipping test server (no services, activities mocked)."""

from collections.abc import AsyncIterator

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from orchestrator.temporal import register_search_attributes
from tests.support.temporal import TEMPORAL_TEST_SERVER


@pytest.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=str(TEMPORAL_TEST_SERVER),
    )
    async with env:
        await register_search_attributes(env.client, env.client.namespace)
        yield env
