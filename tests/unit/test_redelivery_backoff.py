"""How long a failed event waits before its next delivery."""

from choreography.bus import retry_delay


def test_the_wait_doubles_from_a_fifth_of_a_second_and_stops_growing_at_five_seconds() -> None:
    assert [retry_delay(attempt) for attempt in range(1, 9)] == [
        0.2,
        0.4,
        0.8,
        1.6,
        3.2,
        5.0,
        5.0,
        5.0,
    ]


def test_ten_attempts_give_a_transient_fault_about_26_seconds_to_clear() -> None:
    assert round(sum(retry_delay(attempt) for attempt in range(1, 10)), 1) == 26.2
