"""What every saga type shows in Temporal visibility and metrics, whatever its own fields."""

from temporalio.common import SearchAttributeKey

# Custom search attributes, registered on the server by `make up` and the tests. SagaType is
# set by the starter (no workflow command); SagaStatus and FailedStep by the kit.
SAGA_TYPE = SearchAttributeKey.for_keyword("SagaType")
SAGA_STATUS = SearchAttributeKey.for_keyword("SagaStatus")
FAILED_STEP = SearchAttributeKey.for_keyword("FailedStep")
KIT_SEARCH_ATTRIBUTES = (SAGA_TYPE, SAGA_STATUS, FAILED_STEP)

# The sagas' own metrics, recorded by the kit on the worker's endpoint.
SAGA_OUTCOMES_METRIC = "saga_outcomes"
SAGA_DURATION_METRIC = "saga_duration"
