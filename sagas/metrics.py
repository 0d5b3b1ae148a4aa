"""The sagas' own metrics, the same in both styles: the kit records them on the worker's
endpoint (through Temporal's metric meter), the choreography's tracker on the API's /metrics.
No framework here: the choreography never loads the Temporal SDK."""

SAGA_OUTCOMES_METRIC = "saga_outcomes"
SAGA_DURATION_METRIC = "saga_duration"
# Milliseconds, as Temporal's metrics are. The SDK's default buckets end at 10 s; a saga that
# retries a step or its compensations runs for minutes (step deadline 120 s by default), and
# one stuck longer is for alerts, not buckets.
SAGA_DURATION_BUCKETS_MS = (
    100,
    250,
    500,
    1_000,
    2_500,
    5_000,
    10_000,
    30_000,
    60_000,
    120_000,
    300_000,
    900_000,
)
NO_FAILED_STEP = "none"  # the failed_step label of a saga that did not fail
