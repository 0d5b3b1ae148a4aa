"""The API's dependencies: what the app's lifespan built (app.state), typed for the routes.

All async: FastAPI runs a sync dependency on its thread pool, a thread hop per dependency per
request for an attribute read (docs/benchmarks.md, tuning log, entry 25)."""

from typing import Annotated

from fastapi import Depends, Request
from temporalio.client import Client

from choreography.runtime import Choreography
from orchestrator.clients import EnrollmentClient
from orchestrator.config import OrchestratorSettings


async def get_client(request: Request) -> Client:
    client: Client = request.app.state.temporal
    return client


async def get_settings(request: Request) -> OrchestratorSettings:
    settings: OrchestratorSettings = request.app.state.settings
    return settings


async def get_choreography(request: Request) -> Choreography | None:
    choreography: Choreography | None = request.app.state.choreography
    return choreography


async def get_enrollment(request: Request) -> EnrollmentClient:
    enrollment: EnrollmentClient = request.app.state.enrollment
    return enrollment


TemporalDep = Annotated[Client, Depends(get_client)]
EnrollmentDep = Annotated[EnrollmentClient, Depends(get_enrollment)]
ChoreographyDep = Annotated[Choreography | None, Depends(get_choreography)]
SettingsDep = Annotated[OrchestratorSettings, Depends(get_settings)]
