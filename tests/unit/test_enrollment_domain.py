"""Enrollment rules: which transitions a confirm allows, and when a cancel gives a seat back."""

import pytest

from services.enrollment.domain import (
    EnrollmentNotConfirmable,
    EnrollmentStatus,
    cancellation_releases_seat,
    confirmed,
)


@pytest.mark.parametrize("status", [EnrollmentStatus.PENDING, EnrollmentStatus.CONFIRMED])
def test_confirming_a_live_enrollment_makes_it_confirmed(status: EnrollmentStatus) -> None:
    assert confirmed("enrollment-1", status) is EnrollmentStatus.CONFIRMED


def test_confirming_twice_is_a_no_op() -> None:
    once = confirmed("enrollment-1", EnrollmentStatus.PENDING)

    assert confirmed("enrollment-1", once) is once


def test_a_cancelled_enrollment_is_not_confirmable() -> None:
    with pytest.raises(EnrollmentNotConfirmable, match=r"'enrollment-1' is CANCELLED"):
        confirmed("enrollment-1", EnrollmentStatus.CANCELLED)


def test_a_pending_enrollment_in_a_course_closed_to_confirmations_is_not_confirmable() -> None:
    with pytest.raises(EnrollmentNotConfirmable, match="closed to confirmations"):
        confirmed("enrollment-1", EnrollmentStatus.PENDING, course_confirms=False)


def test_an_enrollment_confirmed_before_its_course_closed_stays_confirmed() -> None:
    status = confirmed("enrollment-1", EnrollmentStatus.CONFIRMED, course_confirms=False)

    assert status is EnrollmentStatus.CONFIRMED


@pytest.mark.parametrize("status", [EnrollmentStatus.PENDING, EnrollmentStatus.CONFIRMED])
def test_cancelling_releases_the_seat_while_it_is_held(status: EnrollmentStatus) -> None:
    assert cancellation_releases_seat(status)


def test_cancelling_a_cancelled_enrollment_releases_nothing() -> None:
    assert not cancellation_releases_seat(EnrollmentStatus.CANCELLED)


def test_every_status_either_holds_a_seat_or_is_cancelled() -> None:
    holding = {status for status in EnrollmentStatus if cancellation_releases_seat(status)}

    assert holding == set(EnrollmentStatus) - {EnrollmentStatus.CANCELLED}
