"""The API's dependencies: what the app's lifespan built (app.state), typed for the routes."""

from typing import Annotated

from fastapi import Depends, Request
from temporalio.client import Client

from choreography.runtime import Choreography
from orchestrator.clients import EnrollmentClient
from orchestrator.config import OrchestratorSettings


def get_client(request: Request) -> Client:
    client: Client = request.app.state.temporal
    return client


def get_settings(request: Request) -> OrchestratorSettings:
    settings: OrchestratorSettings = request.app.state.settings
    return settings


def get_choreography(request: Request) -> Choreography | None:
    choreography: Choreography | None = request.app.state.choreography
    return choreography


def get_enrollment(request: Request) -> EnrollmentClient:
    enrollment: EnrollmentClient = request.app.state.enrollment
    return enrollment


TemporalDep = Annotated[Client, Depends(get_client)]
EnrollmentDep = Annotated[EnrollmentClient, Depends(get_enrollment)]
ChoreographyDep = Annotated[Choreography | None, Depends(get_choreography)]
SettingsDep = Annotated[OrchestratorSettings, Depends(get_settings)]
