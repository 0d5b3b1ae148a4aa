"""What the intake does with one delivery, on either broker: the thin adapter over the use case
`sagas.start_saga` that `POST /students` calls too.

- A message that breaks the contract is dead-lettered (with its reason) and then acknowledged:
  delivering it again cannot help, and it must not hold up the ones behind it.
- A valid event starts the student's saga (the workflow id rule of `POST /students`); the
  message is acknowledged only once Temporal accepted the start or answered that this
  student's saga exists. A duplicate delivery or a re-published event therefore starts nothing
  new, and a start Temporal did not accept (unreachable, overloaded, misconfigured) is
  redelivered after a backoff, with no limit: a valid event is never dead-lettered for a fault
  on our side, and nothing is lost.
- A dead letter the broker did not take is redelivered the same way, never acknowledged.

The producer's W3C `traceparent` header is continued (a consumer span, then Temporal's spans of
the start and of the saga), and every line logged about an event carries its student id.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Protocol

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from temporalio.client import Client

from common.logs import SagaLogContext, saga_logging
from orchestrator import sagas
from orchestrator.intake.config import IntakeSettings
from orchestrator.intake.contract import BadMessage, parse_event
from orchestrator.intake.dead_letters import dead_letter_headers
from orchestrator.telemetry import traced_client

log = logging.getLogger("orchestrator.intake")


@dataclass(frozen=True)
class Delivery:
    body: bytes
    content_type: str | None
    source: str  # the subject or queue it came from
    number: int = 1  # 1 on the first delivery, 2 on the first redelivery, ...
    headers: dict[str, str] = field(default_factory=dict)


class Settlement(Protocol):
    """How the broker settles one delivery."""

    async def ack(self) -> None: ...
    async def dead_letter(self, headers: dict[str, str]) -> None:
        """Store the original message with `headers` added, durably, before returning."""

    async def redeliver_after(self, delay: float) -> None: ...


class Intake:
    def __init__(
        self,
        client: Client,
        settings: IntakeSettings,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        self._client = traced_client(client, tracer_provider)
        self._settings = settings
        self._tracer = tracer_provider.get_tracer(__name__) if tracer_provider else None

    async def receive(self, delivery: Delivery, settlement: Settlement) -> None:
        with self._consumer_span(delivery):
            try:
                event = parse_event(delivery.body, delivery.content_type)
            except BadMessage as error:
                await self._dead_letter(delivery, settlement, error)
                return
            with saga_logging(SagaLogContext(event.student_id)):
                try:
                    await sagas.start_saga(self._client, self._settings.task_queue, event)
                except Exception as error:
                    await self._redeliver(delivery, settlement, f"Temporal refused: {error!r}")
                    return
                await settlement.ack()

    async def _dead_letter(
        self, delivery: Delivery, settlement: Settlement, error: BadMessage
    ) -> None:
        saga = SagaLogContext(error.student_id) if error.student_id else None
        with saga_logging(saga) if saga else nullcontext():
            try:
                await settlement.dead_letter(dead_letter_headers(error, delivery.source))
            except Exception as failure:
                await self._redeliver(delivery, settlement, f"dead letter not stored: {failure!r}")
                return
            log.warning("dead-lettered a message from %s: %s", delivery.source, error)
            await settlement.ack()

    async def _redeliver(self, delivery: Delivery, settlement: Settlement, why: str) -> None:
        delay = self._settings.retry_delay(delivery.number)
        log.warning(
            "delivery %d from %s not done (%s); redelivered in %.1f s",
            delivery.number,
            delivery.source,
            why,
            delay,
        )
        await settlement.redeliver_after(delay)

    @contextmanager
    def _consumer_span(self, delivery: Delivery) -> Iterator[None]:
        """A consumer span, child of the producer's when the message carries `traceparent`;
        the start's span (Temporal's interceptor) and the saga's are its children."""
        if self._tracer is None:
            yield
            return
        carrier = {name.lower(): value for name, value in delivery.headers.items()}
        context = TraceContextTextMapPropagator().extract(carrier)
        with self._tracer.start_as_current_span(
            f"{delivery.source} receive",
            context=context,
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.destination.name": delivery.source,
                "messaging.operation.type": "receive",
                "messaging.message.delivery_count": delivery.number,
            },
        ):
            yield
