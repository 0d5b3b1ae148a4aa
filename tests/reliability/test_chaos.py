"""The chaos run in short (`make chaos` runs 300 sagas): tens of sagas, some choreographed by
events, while faults come and go and the worker, a service, Temporal, the API and the broker are
killed and restarted, some students transferring to another course once enrolled; then the
checker finds nothing, in either mode, and no saga is left running."""

from devstack.chaos import CHOREOGRAPHED, ChaosPlan, run_chaos
from devstack.system import System
from orchestrator.ops.invariants import check
from sagas import SagaDeadlines

SAGAS = 30
PLAN = ChaosPlan(
    sagas=SAGAS,
    duration_seconds=30,
    seed=20261128,
    quiet_timeout_seconds=240,
    seconds_between_kills=(1, 3),
    choreography_share=0.3,
    deadlines=SagaDeadlines(
        step_seconds=8,
        attempt_seconds=4,
        max_retry_interval_seconds=1,
        max_compensation_retry_interval_seconds=1,
    ),
)


async def test_a_short_chaos_run_ends_every_saga_without_a_single_violation(
    system: System,
) -> None:
    result = await run_chaos(system, PLAN)

    assert result.report is not None
    assert result.report.violations == []
    assert (result.still_running, result.sagas_started) == (0, SAGAS)
    assert result.transfers_started > 0  # the mix moves some students once enrolled
    assert sum(result.outcomes.values()) == SAGAS + result.transfers_started
    assert "(unreadable)" not in result.outcomes
    assert result.kills["worker"] >= 1 and result.kills["temporal"] >= 1
    assert result.kills["enrollment"] + result.kills["billing"] >= 1
    assert sum(result.faults.values()) > 0
    # The choreographed sagas, counted apart, ended too, through the kills of what they need.
    assert result.choreographed_started > 0
    choreographed = {o: n for o, n in result.outcomes.items() if o.startswith(CHOREOGRAPHED)}
    assert sum(choreographed.values()) == result.choreographed_started
    assert f"{CHOREOGRAPHED} (unreadable)" not in choreographed
    assert result.kills["api"] >= 1 and result.kills["nats"] >= 1
    # ...and the checker that found no violation read them (from the API's tracker).
    orchestrated_only = await check(
        system.temporal, system.settings.model_copy(update={"broker_url": None})
    )
    assert result.report.sagas - orchestrated_only.sagas >= result.choreographed_started
