"""The intake on RabbitMQ, with aio-pika itself: the registry's contract is a foreign one, so the
intake reads each message's own properties (content type), headers and delivery count.

The registry publishes to the durable topic exchange (default `students`) with the routing key
`student.created`; the intake declares both (idempotent: the same declaration the registry
makes) and its own durable quorum queue bound to them, so an event published while the intake
is down waits in the queue. Quorum queues count deliveries (`x-delivery-count`), which sets the
backoff of a redelivery: RabbitMQ cannot delay a requeue, so the intake waits, then requeues.
The queue has no delivery limit of ours; what the broker itself gives up on (a limit set by
policy, or the default limit of 20 of RabbitMQ 4.x quorum queues) goes to the intake's
dead-letter queue rather than nowhere.

Dead letters go to that queue (`saga-intake.dead-letters`) by the default exchange, with
publisher confirms; a redrive sends a letter to the intake's own queue the same way, so the
registry's other consumers do not see it again.
"""

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
    DeliveryMode,
    ExchangeType,
)

from orchestrator.intake.config import IntakeSettings
from orchestrator.intake.dead_letters import (
    ID_HEADER,
    REASON_HEADER,
    REFUSAL_HEADER,
    DeadLetter,
    Republish,
    read_dead_letter,
)
from orchestrator.intake.deliveries import Delivery, Intake

log = logging.getLogger("orchestrator.intake")

DELIVERY_COUNT_HEADER = "x-delivery-count"
PUBLISH_TIMEOUT_SECONDS = 5.0
# What the broker sets on a message it dead-letters by itself.
BROKER_DEATH_HEADER = "x-death"


def _text(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode(errors="replace")
    return str(value)


def _text_headers(headers: dict[str, Any] | None) -> dict[str, str]:
    return {name: _text(value) for name, value in (headers or {}).items()}


def _persistent(
    body: bytes, content_type: str | None, headers: dict[str, Any], **properties: Any
) -> aio_pika.Message:
    return aio_pika.Message(
        body,
        headers=headers,
        content_type=content_type,
        delivery_mode=DeliveryMode.PERSISTENT,
        **properties,
    )


class RabbitIntake:
    def __init__(self, settings: IntakeSettings) -> None:
        self.settings = settings
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        self._queue: AbstractQueue | None = None
        self._consumer_tag: str | None = None
        self._in_flight: set[asyncio.Task[None]] = set()

    @property
    def connected(self) -> bool:
        return self._connection is not None and not self._connection.is_closed

    async def connect(self, wait_for_broker: bool = True) -> None:
        """Connect (reconnected after an outage) and declare exchange, queues and binding.
        A broker down at the start fails it either way (aio-pika reconnects only a connection
        it once had); the process's supervisor starts it again."""
        settings = self.settings
        self._connection = await aio_pika.connect_robust(
            settings.intake_broker(),
            client_properties={"connection_name": "saga-intake"},
            reconnect_interval=1.0,
        )
        self._channel = await self._connection.channel(publisher_confirms=True)
        await self._channel.set_qos(prefetch_count=settings.intake_concurrency)
        exchange = await self._channel.declare_exchange(
            settings.intake_rabbitmq_exchange, ExchangeType.TOPIC, durable=True
        )
        await self._channel.declare_queue(
            settings.intake_rabbitmq_dead_letter_queue,
            durable=True,
            arguments={"x-queue-type": "quorum"},
        )
        self._queue = await self._channel.declare_queue(
            settings.intake_rabbitmq_queue,
            durable=True,
            arguments={
                "x-queue-type": "quorum",
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": settings.intake_rabbitmq_dead_letter_queue,
            },
        )
        await self._queue.bind(exchange, routing_key=settings.intake_rabbitmq_routing_key)

    async def start(self, intake: Intake) -> None:
        assert self._queue is not None, "connect() first"

        async def on_message(message: AbstractIncomingMessage) -> None:
            # aio-pika runs each delivery in a task of its own, at most the prefetch at once.
            task = asyncio.current_task()
            if task is not None:
                self._in_flight.add(task)
            try:
                await self._deliver(message, intake)
            finally:
                if task is not None:
                    self._in_flight.discard(task)

        self._consumer_tag = await self._queue.consume(on_message)

    async def _deliver(self, message: AbstractIncomingMessage, intake: Intake) -> None:
        headers = _text_headers(message.headers)
        previous = int(headers.get(DELIVERY_COUNT_HEADER) or 0)
        delivery = Delivery(
            body=message.body,
            content_type=message.content_type,
            source=self.settings.intake_rabbitmq_queue,
            number=previous + 1,
            headers=headers,
        )
        try:
            await intake.receive(delivery, _Settlement(self, message))
        except Exception as error:  # an ack or requeue lost with the channel
            log.warning("settling delivery %d failed (%r): it comes again", delivery.number, error)

    async def dead_letter(self, message: AbstractIncomingMessage, added: dict[str, str]) -> None:
        assert self._channel is not None
        letter = _persistent(
            message.body,
            message.content_type,
            {**(message.headers or {}), **added},
            content_encoding=message.content_encoding,
            message_id=message.message_id,
            correlation_id=message.correlation_id,
            timestamp=message.timestamp,
            type=message.type,
            app_id=message.app_id,
        )
        await self._channel.default_exchange.publish(
            letter,
            routing_key=self.settings.intake_rabbitmq_dead_letter_queue,
            timeout=PUBLISH_TIMEOUT_SECONDS,
        )

    async def close(self) -> None:
        """Stop consuming, let the deliveries in flight finish, disconnect. A delivery not
        acknowledged by then is redelivered to the next intake."""
        if self._queue is not None and self._consumer_tag is not None:
            try:
                await self._queue.cancel(self._consumer_tag)
            except Exception as error:  # the connection is gone already
                log.info("cancelling the consumer failed: %r", error)
        if self._in_flight:
            await asyncio.wait(self._in_flight, timeout=15)
        if self._connection is not None:
            await self._connection.close()

    async def dead_letters(self) -> list[DeadLetter]:
        letters: list[DeadLetter] = []

        def keep(letter: DeadLetter) -> None:
            letters.append(letter)

        await self._each_dead_letter(keep)
        return letters

    async def redrive(self, decide: Callable[[DeadLetter], Republish | None]) -> None:
        """Republish, to the intake's queue, each dead letter `decide` returns a message for,
        then remove it (published first: a crash in between leaves a duplicate event, which
        starts nothing new, never a lost one)."""
        await self._each_dead_letter(decide)

    async def _each_dead_letter(self, decide: Callable[[DeadLetter], Republish | None]) -> None:
        """Get every dead letter unacknowledged on a channel of its own; the ones redriven are
        acknowledged, the others go back to the queue, in order, when the channel closes."""
        assert self._connection is not None, "connect() first"
        channel = await self._connection.channel(publisher_confirms=True)
        try:
            queue = await channel.get_queue(self.settings.intake_rabbitmq_dead_letter_queue)
            while (message := await queue.get(no_ack=False, fail=False)) is not None:
                republish = decide(_read(message))
                if republish is None:
                    continue
                headers = {
                    name: value
                    for name, value in republish.headers.items()
                    if not name.lower().startswith("x-")  # the broker's own bookkeeping
                }
                await channel.default_exchange.publish(
                    _persistent(republish.body, republish.content_type, dict(headers)),
                    routing_key=self.settings.intake_rabbitmq_queue,
                    timeout=PUBLISH_TIMEOUT_SECONDS,
                )
                await message.ack()
        finally:
            await channel.close()


def _read(message: AbstractIncomingMessage) -> DeadLetter:
    headers = _text_headers(message.headers)
    if ID_HEADER not in headers:
        # Dead-lettered by the broker itself (x-death says why), not by the intake.
        headers[ID_HEADER] = message.message_id or f"broker-{message.delivery_tag}"
        headers[REFUSAL_HEADER] = "dead-lettered-by-the-broker"
        headers[REASON_HEADER] = headers.get(BROKER_DEATH_HEADER, "")
    return read_dead_letter(message.body, message.content_type, headers)


class _Settlement:
    def __init__(self, intake: RabbitIntake, message: AbstractIncomingMessage) -> None:
        self._intake = intake
        self._message = message

    async def ack(self) -> None:
        await self._message.ack()

    async def dead_letter(self, headers: dict[str, str]) -> None:
        await self._intake.dead_letter(self._message, headers)

    async def redeliver_after(self, delay: float) -> None:
        await asyncio.sleep(delay)
        await self._message.nack(requeue=True)
