"""The reliability issue's invariant checker (orchestrator/ops/invariants.py), over both modes.

Its rules are about a saga and the rows its idempotency keys created; a choreographed saga's
keys are `choreography:<student>:<step>` (a retry's `choreography:r<run>/<student>:<step>`) and
its status is the tracker's. So the sagas checked are Temporal's plus the choreographed ones
from the API's database (choreography/invariants.py, as `saga check` reads them).
"""

from typing import Any

import httpx
from temporalio.client import Client

from choreography.events import IDEMPOTENCY_KEY_PREFIX
from common.database import create_database_engine
from orchestrator.ops.invariants import (
    SAGA_KEY_PREFIXES,
    Saga,
    choreographed_sagas,
    evaluate,
    list_sagas,
)


def choreographed(api_database_url: str) -> list[Saga]:
    engine = create_database_engine(api_database_url)
    try:
        return choreographed_sagas(engine)
    finally:
        engine.dispose()


async def violations(
    temporal: Client,
    enrollment: httpx.AsyncClient,
    billing: httpx.AsyncClient,
    api_database_url: str | None,
) -> set[str]:
    """Every violation, in either mode; running sagas are skipped (not a quiet system)."""
    sagas = await list_sagas(temporal)
    if api_database_url is not None:
        sagas += choreographed(api_database_url)
    courses: list[dict[str, Any]] = (await enrollment.get("/courses")).json()
    enrollments: list[dict[str, Any]] = (await enrollment.get("/enrollments")).json()
    charges: list[dict[str, Any]] = (await billing.get("/charges")).json()
    report = evaluate(
        sagas,
        courses,
        enrollments,
        charges,
        expect_quiet=False,
        key_prefixes=(*SAGA_KEY_PREFIXES, IDEMPOTENCY_KEY_PREFIX),
    )
    return {f"{v.rule} {v.subject}: {v.detail}" for v in report.violations}
