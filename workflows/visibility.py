"""The custom search attributes, registered on the server by `make up` and the tests: the kit's
(SagaType, SagaStatus, FailedStep; sagas/visibility.py) and the ones the sagas here label
themselves with."""

from temporalio.common import SearchAttributeKey

from sagas.visibility import KIT_SEARCH_ATTRIBUTES

STUDENT_ID = SearchAttributeKey.for_keyword("StudentId")
COURSE_ID = SearchAttributeKey.for_keyword("CourseId")
SEARCH_ATTRIBUTES = (STUDENT_ID, COURSE_ID, *KIT_SEARCH_ATTRIBUTES)
