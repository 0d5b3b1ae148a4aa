"""Liveness and readiness routes, the same in every process."""

from collections.abc import Awaitable, Callable

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from common.problems import ProblemSpec, problem_response, problem_responses

ReadinessCheck = Callable[[], Awaitable[str | None]]


def health_router(readiness: ReadinessCheck) -> APIRouter:
    """`readiness` returns None when ready, or a sentence saying what is not."""
    router = APIRouter(tags=["health"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Liveness: the process is up and serving."""
        return {"status": "ok"}

    @router.get("/readyz", responses=problem_responses(503))
    async def readyz() -> JSONResponse:
        """Readiness: the process can reach what it depends on."""
        problem = await readiness()
        if problem is not None:
            spec = ProblemSpec(503, "not-ready", "Service Unavailable")
            return problem_response(spec, problem)
        return JSONResponse({"status": "ready"})

    return router
