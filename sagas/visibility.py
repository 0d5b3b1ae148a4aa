"""What every saga type shows in Temporal visibility, whatever its own fields (its metrics:
sagas/metrics.py)."""

from temporalio.common import SearchAttributeKey

# Custom search attributes, registered on the server by `make up` and the tests. SagaType is
# set by the starter (no workflow command); SagaStatus and FailedStep by the kit.
SAGA_TYPE = SearchAttributeKey.for_keyword("SagaType")
SAGA_STATUS = SearchAttributeKey.for_keyword("SagaStatus")
FAILED_STEP = SearchAttributeKey.for_keyword("FailedStep")
KIT_SEARCH_ATTRIBUTES = (SAGA_TYPE, SAGA_STATUS, FAILED_STEP)
