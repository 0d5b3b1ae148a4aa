"""Enrollment rules: which transitions a confirm and a withdrawal allow, and when a cancel gives
a seat back."""

import pytest

from services.enrollment.domain import (
    EnrollmentNotConfirmable,
    EnrollmentNotWithdrawable,
    EnrollmentStatus,
    cancellation_releases_seat,
    confirmed,
    withdrawn,
)


@pytest.mark.parametrize("status", [EnrollmentStatus.PENDING, EnrollmentStatus.CONFIRMED])
def test_confirming_a_live_enrollment_makes_it_confirmed(status: EnrollmentStatus) -> None:
    assert confirmed("enrollment-1", status) is EnrollmentStatus.CONFIRMED


def test_confirming_twice_is_a_no_op() -> None:
    once = confirmed("enrollment-1", EnrollmentStatus.PENDING)

    assert confirmed("enrollment-1", once) is once


@pytest.mark.parametrize("status", [EnrollmentStatus.CANCELLED, EnrollmentStatus.WITHDRAWN])
def test_an_enrollment_that_gave_its_seat_back_is_not_confirmable(
    status: EnrollmentStatus,
) -> None:
    with pytest.raises(EnrollmentNotConfirmable, match=rf"'enrollment-1' is {status}"):
        confirmed("enrollment-1", status)


def test_a_pending_enrollment_in_a_course_closed_to_confirmations_is_not_confirmable() -> None:
    with pytest.raises(EnrollmentNotConfirmable, match="closed to confirmations"):
        confirmed("enrollment-1", EnrollmentStatus.PENDING, course_confirms=False)


def test_an_enrollment_confirmed_before_its_course_closed_stays_confirmed() -> None:
    status = confirmed("enrollment-1", EnrollmentStatus.CONFIRMED, course_confirms=False)

    assert status is EnrollmentStatus.CONFIRMED


@pytest.mark.parametrize("status", [EnrollmentStatus.PENDING, EnrollmentStatus.CONFIRMED])
def test_cancelling_releases_the_seat_while_it_is_held(status: EnrollmentStatus) -> None:
    assert cancellation_releases_seat(status)


@pytest.mark.parametrize("status", [EnrollmentStatus.CANCELLED, EnrollmentStatus.WITHDRAWN])
def test_cancelling_an_enrollment_that_gave_its_seat_back_releases_nothing(
    status: EnrollmentStatus,
) -> None:
    assert not cancellation_releases_seat(status)


def test_every_status_either_holds_a_seat_or_is_final() -> None:
    holding = {status for status in EnrollmentStatus if cancellation_releases_seat(status)}

    assert holding == set(EnrollmentStatus) - {
        EnrollmentStatus.CANCELLED,
        EnrollmentStatus.WITHDRAWN,
    }


def test_withdrawing_a_confirmed_enrollment_makes_it_withdrawn() -> None:
    assert withdrawn("enrollment-1", EnrollmentStatus.CONFIRMED) is EnrollmentStatus.WITHDRAWN


def test_withdrawing_twice_is_a_no_op() -> None:
    once = withdrawn("enrollment-1", EnrollmentStatus.CONFIRMED)

    assert withdrawn("enrollment-1", once) is once


@pytest.mark.parametrize("status", [EnrollmentStatus.PENDING, EnrollmentStatus.CANCELLED])
def test_an_enrollment_never_confirmed_or_cancelled_is_not_withdrawable(
    status: EnrollmentStatus,
) -> None:
    with pytest.raises(EnrollmentNotWithdrawable, match=rf"'enrollment-1' is {status}"):
        withdrawn("enrollment-1", status)
