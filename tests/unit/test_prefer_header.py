"""Reading `Prefer: wait=N` as RFC 7240 writes it (orchestrator/api/waiting.py)."""

import pytest

from orchestrator.api.waiting import MAX_WAIT_SECONDS, requested_wait


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        (["wait=5"], 5),
        (["WAIT = 7"], 7),
        (['wait="3"'], 3),
        (["respond-async, wait=4"], 4),
        (["handling=lenient", "wait=2; extra=1"], 2),
        (["wait=2, wait=9"], 2),  # a repeated preference: the first counts
        (["wait=0"], 0),
        ([f"wait={MAX_WAIT_SECONDS * 10}"], MAX_WAIT_SECONDS),
    ],
)
def test_a_wait_preference_gives_the_seconds_to_wait_at_most_thirty(
    headers: list[str], seconds: int
) -> None:
    assert requested_wait(headers) == seconds


@pytest.mark.parametrize(
    "headers",
    [
        None,
        [],
        ["respond-async"],
        ["wait"],
        ["wait="],
        ["wait=soon"],
        ["wait=-1"],
        ["wait=1.5"],
        ["waiting=5"],
    ],
)
def test_no_wait_or_a_malformed_one_is_ignored(headers: list[str] | None) -> None:
    assert requested_wait(headers) is None
