"""The choreographed sagas as the invariant checker (`saga check`, orchestrator/ops/invariants.py)
sees them: one per run of each registered saga, found by its keys' prefix
(`choreography.events.saga_key_prefix`), with the tracker's status for the latest run. A run is
retried only once COMPENSATED, so every earlier run is."""

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlmodel import Session, select

from choreography.events import FIRST_RUN, saga_key_prefix
from choreography.sagas import ChoreographedSaga
from choreography.tracker import all_views
from sagas import TERMINAL_STATUSES, SagaStatus


@dataclass(frozen=True)
class SagaRun:
    saga_id: str  # `choreography:<student>` for the first run, `choreography:r<n>/<student>`
    key_prefix: str
    status: SagaStatus

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL_STATUSES


def saga_runs(engine: Engine) -> list[SagaRun]:
    views = all_views(engine)
    with Session(engine) as session:
        registered = [(row.student_id, row.run) for row in session.exec(select(ChoreographedSaga))]
        session.commit()
    runs = []
    for student_id, latest_run in registered:
        view = views.get(student_id)
        latest_status = view.status if view is not None else SagaStatus.RUNNING
        for run in range(FIRST_RUN, latest_run + 1):
            prefix = saga_key_prefix(student_id, run)
            status = latest_status if run == latest_run else SagaStatus.COMPENSATED
            runs.append(SagaRun(prefix.removesuffix(":"), prefix, status))
    return runs
