"""The ids every process checks the same way, defined once: a student id (it becomes part of a
Temporal workflow id and of URLs, hence its alphabet), a course id and a payment token. The API's
bodies, the workflows' inputs, the choreography's events and the services' tables read their
bounds here."""

from typing import Annotated

from pydantic import Field

ID_PATTERN = r"^[A-Za-z0-9._:-]+$"
STUDENT_ID_MAX_LENGTH = 100
COURSE_ID_MAX_LENGTH = 32
PAYMENT_TOKEN_MAX_LENGTH = 100

StudentId = Annotated[
    str, Field(min_length=1, max_length=STUDENT_ID_MAX_LENGTH, pattern=ID_PATTERN)
]
CourseId = Annotated[str, Field(min_length=1, max_length=COURSE_ID_MAX_LENGTH)]
PaymentToken = Annotated[str, Field(min_length=1, max_length=PAYMENT_TOKEN_MAX_LENGTH)]
