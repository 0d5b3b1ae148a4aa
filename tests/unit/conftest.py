"""Unit-test fixtures: Temporal's time-skipping test server (no services, activities mocked)."""

from collections.abc import AsyncIterator

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from orchestrator.temporal import register_search_attributes
from tests.support.temporal import TEMPORAL_TEST_SERVER


async def _time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=str(TEMPORAL_TEST_SERVER),
    )
    async with env:
        await register_search_attributes(env.client, env.client.namespace)
        yield env


@pytest.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    async for env in _time_skipping_env():
        yield env


@pytest.fixture
async def own_time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """A test server of the test's own, for a test that abandons a running activity (a saga
    cancelled or past its deadline): the test server keeps time skipping locked for an
    activity whose result arrives after its workflow closed, and would stall later tests."""
    async for env in _time_skipping_env():
        yield env
