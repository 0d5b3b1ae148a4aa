"""The choreographed sagas' outcomes and durations, under the names and labels the kit gives
the orchestrated ones on the worker (sagas/metrics.py): `saga_outcomes_total` and
`saga_duration` (milliseconds, the same buckets), by saga type, outcome and failed step. The
tracker sees every saga end, so the API records them, on its own /metrics."""

from prometheus_client import CollectorRegistry, Counter, Histogram

from choreography.tracker import Tracked
from sagas.metrics import (
    NO_FAILED_STEP,
    SAGA_DURATION_BUCKETS_MS,
    SAGA_DURATION_METRIC,
    SAGA_OUTCOMES_METRIC,
)

LABELS = ("saga_type", "outcome", "failed_step")


class SagaOutcomeMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.outcomes = Counter(
            SAGA_OUTCOMES_METRIC,
            "Sagas ended, by outcome and failed step.",
            LABELS,
            registry=registry,
        )
        self.duration = Histogram(
            SAGA_DURATION_METRIC,
            "Time from a saga run's start to its end, in milliseconds.",
            LABELS,
            buckets=SAGA_DURATION_BUCKETS_MS,
            registry=registry,
        )

    def record(self, tracked: Tracked) -> None:
        """Count a saga's end (a Tracked whose event ended its run)."""
        state = tracked.state
        labels = (state.saga_type, state.status.lower(), state.failed_step or NO_FAILED_STEP)
        self.outcomes.labels(*labels).inc()
        if tracked.duration is not None:
            self.duration.labels(*labels).observe(tracked.duration.total_seconds() * 1000)
