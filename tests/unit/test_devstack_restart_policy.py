"""When `make up` restarts a process that exited, and when it gives up (devstack/supervision.py)."""

from devstack.config import DevstackSettings
from devstack.supervision import ExitHistory, RestartPolicy


def test_the_wait_before_a_restart_doubles_from_half_a_second_up_to_ten() -> None:
    policy = RestartPolicy()

    delays = [policy.delay(exits) for exits in range(1, 9)]

    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]


def test_the_fifth_exit_within_the_window_is_a_crash_loop() -> None:
    policy = RestartPolicy()

    assert [policy.gives_up(exits) for exits in range(1, 7)] == [False] * 4 + [True] * 2


def test_exits_older_than_the_window_are_forgotten_so_the_backoff_starts_again() -> None:
    history = ExitHistory(window_seconds=60)

    counts = [history.record("worker", now) for now in (0, 10, 30, 80, 85, 200)]

    # at 80 the exits at 0 and 10 are more than 60 s old; at 200 every earlier one is
    assert counts == [1, 2, 3, 2, 3, 1]


def test_each_process_has_its_own_count() -> None:
    history = ExitHistory(window_seconds=60)
    history.record("worker", 0)
    history.record("worker", 1)

    assert history.record("billing", 2) == 1


def test_the_policy_comes_from_the_stack_settings() -> None:
    settings = DevstackSettings.on_free_ports(
        crash_loop_exits=3,
        crash_loop_seconds=30,
        restart_backoff_seconds=1,
        restart_backoff_max_seconds=3,
    )

    policy = RestartPolicy.of(settings)

    assert [policy.delay(exits) for exits in (1, 2, 3)] == [1, 2, 3]
    assert policy.gives_up(3) and not policy.gives_up(2)
    assert policy.crash_loop_seconds == 30
