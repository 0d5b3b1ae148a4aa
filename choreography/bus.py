"""The event bus on either broker, behind one small interface.

- `publish(event_type, event_id, payload)` returns once the broker has the event durably (a
  JetStream PubAck; a RabbitMQ publisher confirm) and raises otherwise, so the outbox relay
  marks an event sent only when it is safe.
- `subscribe(consumer, handler)` delivers each event the consumer subscribes to (topology.py) at
  least once, acked only after the handler returned. A handler that raises gets the event again;
  after `max_attempts` deliveries it goes to the dead letters with the error, and is acked.
- `dead_letters()` lists them without consuming them.

NATS: one file-backed stream `<ns>-events` over `<ns>.events.<Type>`, retained (limits policy)
so the tracker can be rebuilt by replay; a durable pull consumer per (consumer, type) with
explicit acks; duplicates within two minutes are dropped by message id (the event id). Dead
letters go to the stream `<ns>-dead-letters`.
RabbitMQ: a durable topic exchange `<ns>.events` (routing key = event type), a durable quorum
queue per (consumer, type) whose dead-letter exchange `<ns>.dead-letters` also catches what the
broker itself gives up on (x-delivery-limit), persistent messages, publisher confirms; and a
stream queue `<ns>.event-log` bound to every event, the retained log.
"""

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import aio_pika
from aio_pika.abc import AbstractIncomingMessage as IncomingMessage
from faststream import AckPolicy, Context, StreamMessage
from faststream.nats import (
    ConsumerConfig,
    DeliverPolicy,
    JStream,
    NatsBroker,
    PullSub,
    StorageType,
)
from faststream.rabbit import ExchangeType, QueueType, RabbitBroker, RabbitExchange, RabbitQueue
from nats.js.api import RetentionPolicy, StreamConfig
from nats.js.errors import BadRequestError
from opentelemetry.trace import Span, StatusCode, Tracer
from pydantic import ValidationError

from choreography.config import (
    ACK_TIMEOUT_SECONDS,
    DUPLICATE_WINDOW_SECONDS,
    BrokerConfig,
    retry_delay,
)
from choreography.events import Event, from_json
from choreography.topology import SUBSCRIPTIONS, subscribed_types
from choreography.tracing import consumer_span, trace_headers_of
from common.logs import SagaLogContext, saga_logging

logger = logging.getLogger(__name__)

Handler = Callable[[Event], Awaitable[None]]
RawHandler = Callable[[bytes], Awaitable[None]]
Message = Annotated[StreamMessage[Any], Context("message")]

ERROR_HEADER = "saga-error"
CONSUMER_HEADER = "saga-consumer"
ATTEMPTS_HEADER = "saga-attempts"
# FastStream logs every message received and processed; that is debugging detail here.
ACCESS_LOG_LEVEL = logging.DEBUG
REPLAY_MARKER = "replay-marker"
# Between two messages of a replay; only a broken broker makes it wait this long.
REPLAY_IDLE_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class DeadLetter:
    consumer: str
    attempts: int
    error: str
    event_type: str | None
    student_id: str | None
    payload: str
    event_id: str | None = None


Selection = Callable[[DeadLetter], bool]
"""Which dead letters a re-drive takes."""


class EventBus(Protocol):
    config: BrokerConfig

    @property
    def broker(self) -> NatsBroker | RabbitBroker: ...

    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def publish(
        self,
        event_type: str,
        event_id: str,
        payload: bytes,
        headers: Mapping[str, str] | None = None,
    ) -> None: ...
    def subscribe(self, consumer: str, handler: Handler) -> None: ...
    async def dead_letters(self) -> list[DeadLetter]: ...
    async def redrive(self, selection: Selection) -> list[DeadLetter]: ...


def create_bus(config: BrokerConfig, tracer: Tracer | None = None) -> EventBus:
    """`tracer`: a consumer span per delivery (choreography/tracing.py); none without it."""
    if config.kind == "rabbitmq":
        return RabbitBus(config, tracer)
    return NatsBus(config, tracer)


def _dead_letter(headers: dict[str, Any], payload: bytes) -> DeadLetter:
    try:
        event: dict[str, Any] = json.loads(payload)
    except ValueError:
        event = {}
    return DeadLetter(
        consumer=str(headers.get(CONSUMER_HEADER, "")),
        attempts=int(headers.get(ATTEMPTS_HEADER, 0)),
        error=str(headers.get(ERROR_HEADER, "")),
        event_type=event.get("type") if isinstance(event, dict) else None,
        student_id=event.get("student_id") if isinstance(event, dict) else None,
        payload=payload.decode(errors="replace"),
        event_id=event.get("event_id") if isinstance(event, dict) else None,
    )


def redrivable(letter: DeadLetter) -> bool:
    """Only a parseable event goes back: an unparseable one would only fail again."""
    try:
        from_json(letter.payload)
    except ValidationError:
        return False
    return letter.consumer in SUBSCRIPTIONS


@dataclass(frozen=True)
class _Delivery:
    event_type: str  # the subscription's: known even when the payload is not parseable
    destination: str
    payload: bytes
    attempt: int
    headers: Mapping[str, Any]


class _Consuming:
    """What both brokers do with a delivery: parse, handle, count attempts, dead-letter; with a
    tracer, all of it in a consumer span continuing the producer's trace."""

    config: BrokerConfig
    _tracer: Tracer | None

    async def _deliver(
        self,
        consumer: str,
        handler: Handler,
        delivery: _Delivery,
        send_to_dead_letters: Callable[[dict[str, str]], Awaitable[None]],
        redeliver_after: Callable[[float], Awaitable[None]],
    ) -> None:
        with self._delivery_span(consumer, delivery) as span:
            attempt = delivery.attempt
            if span is not None:
                send_to_dead_letters = _traced_dead_letters(span, delivery, send_to_dead_letters)
            try:
                event = from_json(delivery.payload)
            except ValidationError as error:
                # Retrying cannot make an unknown type or version parseable: dead-letter it now.
                await send_to_dead_letters(
                    self._headers(consumer, attempt, f"unparseable: {error}")
                )
                return
            if span is not None:
                span.set_attributes(
                    {"messaging.message.id": event.event_id, "saga.student_id": event.student_id}
                )
            # Every line logged about this delivery, the handler's own included, names the saga.
            with saga_logging(SagaLogContext(event.student_id)):
                try:
                    await handler(event)
                except Exception as error:
                    if span is not None:
                        span.record_exception(error)
                        span.set_status(StatusCode.ERROR, repr(error))
                    if attempt < self.config.max_attempts:
                        delay = retry_delay(attempt)
                        logger.warning(
                            "%s: attempt %d on %s failed: %r; again in %.1fs",
                            consumer,
                            attempt,
                            event,
                            error,
                            delay,
                        )
                        await redeliver_after(delay)
                        return
                    logger.error(
                        "%s: dead-lettering %s after %d attempts", consumer, event, attempt
                    )
                    await send_to_dead_letters(self._headers(consumer, attempt, repr(error)))

    @contextmanager
    def _delivery_span(self, consumer: str, delivery: _Delivery) -> Iterator[Span | None]:
        if self._tracer is None:
            yield None
            return
        attributes: dict[str, str | int] = {
            "messaging.system": self.config.kind,
            "messaging.destination.name": delivery.destination,
            "messaging.consumer.group.name": consumer,
            "messaging.message.delivery_count": delivery.attempt,
        }
        with consumer_span(self._tracer, delivery.event_type, delivery.headers, attributes) as span:
            yield span

    @staticmethod
    def _headers(consumer: str, attempt: int, error: str) -> dict[str, str]:
        return {
            CONSUMER_HEADER: consumer,
            ATTEMPTS_HEADER: str(attempt),
            ERROR_HEADER: error[:2000],
        }


def _traced_dead_letters(
    span: Span,
    delivery: _Delivery,
    send_to_dead_letters: Callable[[dict[str, str]], Awaitable[None]],
) -> Callable[[dict[str, str]], Awaitable[None]]:
    """Dead letters keep the delivery's trace headers, so that a re-drive continues the trace."""
    trace_headers = trace_headers_of(delivery.headers)

    async def send(headers: dict[str, str]) -> None:
        span.set_status(StatusCode.ERROR, "dead-lettered")
        await send_to_dead_letters({**trace_headers, **headers})

    return send


class NatsBus(_Consuming):
    def __init__(self, config: BrokerConfig, tracer: Tracer | None = None) -> None:
        self.config = config
        self._tracer = tracer
        namespace = config.namespace
        self._broker = NatsBroker(
            config.url,
            max_reconnect_attempts=-1,  # a broker outage is waited out, never fatal
            reconnect_time_wait=1,
            log_level=ACCESS_LOG_LEVEL,
        )
        self.stream_configs = [
            StreamConfig(
                name=f"{namespace}-events",
                subjects=[f"{namespace}.events.>"],
                retention=RetentionPolicy.LIMITS,
                storage=StorageType.FILE,
                duplicate_window=DUPLICATE_WINDOW_SECONDS,
            ),
            StreamConfig(
                name=f"{namespace}-dead-letters",
                subjects=[f"{namespace}.dead-letters.>"],
                retention=RetentionPolicy.LIMITS,
                storage=StorageType.FILE,
            ),
        ]
        # Declared here, from the configs above; FastStream only binds to them.
        self.events_stream = JStream(f"{namespace}-events", declare=False)
        self.dead_letter_stream = JStream(f"{namespace}-dead-letters", declare=False)

    @property
    def broker(self) -> NatsBroker:
        return self._broker

    def subject(self, event_type: str) -> str:
        return f"{self.config.namespace}.events.{event_type}"

    async def start(self) -> None:
        await self._broker.connect()
        # Declared by every process, subscriber or not, so the first publish has a stream.
        js = self._broker.config.connection_state.stream
        for stream_config in self.stream_configs:
            try:
                await js.add_stream(config=stream_config)
            except BadRequestError:  # already there: bring it to this configuration
                await js.update_stream(config=stream_config)
        await self._broker.start()

    async def close(self) -> None:
        await self._broker.stop()

    async def publish(
        self,
        event_type: str,
        event_id: str,
        payload: bytes,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        await self._broker.publish(
            payload,
            self.subject(event_type),
            headers={
                **(headers or {}),
                "Nats-Msg-Id": event_id,
                "content-type": "application/json",
            },
            stream=self.events_stream.name,
            timeout=5.0,
        )

    def subscribe(self, consumer: str, handler: Handler) -> None:
        for event_type in subscribed_types(consumer):
            self._subscribe_one(consumer, event_type, handler)

    def _subscribe_one(self, consumer: str, event_type: str, handler: Handler) -> None:
        durable = f"{self.config.namespace}-{consumer}-{event_type}"
        dead_letter_subject = f"{self.config.namespace}.dead-letters.{consumer}"
        subject = self.subject(event_type)

        async def consume(message: Message) -> None:
            payload: bytes = message.body
            attempt = int(message.raw_message.metadata.num_delivered)
            delivery = _Delivery(event_type, subject, payload, attempt, message.headers or {})

            async def send_to_dead_letters(headers: dict[str, str]) -> None:
                await self._broker.publish(
                    payload,
                    dead_letter_subject,
                    headers=headers,
                    stream=self.dead_letter_stream.name,
                    timeout=5.0,
                )

            async def redeliver_after(delay: float) -> None:
                # The broker holds the event back; this consumer goes on with the next ones.
                await message.nack(delay=delay)  # type: ignore[call-arg]

            await self._deliver(consumer, handler, delivery, send_to_dead_letters, redeliver_after)

        self._broker.subscriber(
            subject,
            stream=self.events_stream,
            durable=durable,
            # One message per fetch: with larger batches a NAKed event waited here for the fetch
            # to fill or time out before its redelivery (the dead-letter test: 9.0 s vs 3.3 s).
            pull_sub=PullSub(batch_size=1, timeout=2.0),
            deliver_policy=DeliverPolicy.ALL,
            # A safety net above our own limit, for a handler that never returns at all.
            config=ConsumerConfig(
                max_deliver=self.config.max_attempts + 2, ack_wait=ACK_TIMEOUT_SECONDS["nats"]
            ),
            ack_policy=AckPolicy.NACK_ON_ERROR,
            title=f"{consumer}:{event_type}",
        )(consume)

    async def dead_letters(self) -> list[DeadLetter]:
        js = self._broker.config.connection_state.stream
        info = await js.stream_info(self.dead_letter_stream.name)
        letters = []
        for sequence in range(info.state.first_seq, info.state.last_seq + 1):
            try:
                message = await js.get_msg(self.dead_letter_stream.name, sequence)
            except Exception:  # a gap: deleted message
                continue
            letters.append(_dead_letter(dict(message.headers or {}), message.data or b""))
        return letters

    async def redrive(self, selection: Selection) -> list[DeadLetter]:
        """Publish each selected dead letter's event again, then delete the dead letter. The
        copy gets a message id of its own: with the event's id, JetStream would drop it as a
        duplicate within its window. Every consumer of the type receives it; those that had
        applied it find it in their inbox and change nothing."""
        js = self._broker.config.connection_state.stream
        info = await js.stream_info(self.dead_letter_stream.name)
        redriven = []
        for sequence in range(info.state.first_seq, info.state.last_seq + 1):
            try:
                message = await js.get_msg(self.dead_letter_stream.name, sequence)
            except Exception:  # a gap: deleted message
                continue
            letter = _dead_letter(dict(message.headers or {}), message.data or b"")
            if not (redrivable(letter) and selection(letter)):
                continue
            assert letter.event_type is not None
            await self._broker.publish(
                message.data or b"",
                self.subject(letter.event_type),
                headers={
                    **trace_headers_of(message.headers or {}),
                    "Nats-Msg-Id": f"{letter.event_id}/redrive/{sequence}",
                    "content-type": "application/json",
                },
                stream=self.events_stream.name,
                timeout=5.0,
            )
            await js.delete_msg(self.dead_letter_stream.name, sequence)
            redriven.append(letter)
        return redriven

    async def replay(self, handler: Handler) -> int:
        """Feed every retained event, oldest first, to `handler`; returns how many."""

        async def parse(payload: bytes) -> None:
            await handler(from_json(payload))

        return await self.replay_raw(parse)

    async def replay_raw(self, handler: RawHandler) -> int:
        """Every retained message's bytes, oldest first, as the broker holds them."""
        js = self._broker.config.connection_state.stream
        info = await js.stream_info(self.events_stream.name)
        count = 0
        for sequence in range(info.state.first_seq, info.state.last_seq + 1):
            try:
                message = await js.get_msg(self.events_stream.name, sequence)
            except Exception:
                continue
            await handler(message.data or b"")
            count += 1
        return count


class RabbitBus(_Consuming):
    def __init__(self, config: BrokerConfig, tracer: Tracer | None = None) -> None:
        self.config = config
        self._tracer = tracer
        namespace = config.namespace
        # Named after the namespace, so an operator (or a test) can tell its connections apart.
        url = urlsplit(config.url)
        query = dict(parse_qsl(url.query))
        query.setdefault("name", f"saga:{namespace}")
        named_url = urlunsplit(url._replace(query=urlencode(query)))
        self._broker = RabbitBroker(named_url, reconnect_interval=1.0, log_level=ACCESS_LOG_LEVEL)
        self.exchange = RabbitExchange(f"{namespace}.events", type=ExchangeType.TOPIC, durable=True)
        self.dead_letter_exchange = RabbitExchange(
            f"{namespace}.dead-letters", type=ExchangeType.FANOUT, durable=True
        )
        self.dead_letter_queue = RabbitQueue(f"{namespace}.dead-letters", durable=True)
        self.event_log = RabbitQueue(
            f"{namespace}.event-log", queue_type=QueueType.STREAM, durable=True, routing_key="#"
        )

    @property
    def broker(self) -> RabbitBroker:
        return self._broker

    def queue(self, consumer: str, event_type: str) -> RabbitQueue:
        return RabbitQueue(
            f"{self.config.namespace}.{consumer}.{event_type}",
            queue_type=QueueType.QUORUM,
            durable=True,
            routing_key=event_type,
            arguments={
                "x-dead-letter-exchange": self.dead_letter_exchange.name,
                "x-delivery-limit": self.config.max_attempts + 2,
            },
        )

    async def start(self) -> None:
        await self._broker.connect()
        # Every queue of every consumer, declared by every process: a message published to the
        # exchange before its queue exists would be dropped.
        exchange = await self._broker.declare_exchange(self.exchange)
        dead_letters = await self._broker.declare_exchange(self.dead_letter_exchange)
        queue = await self._broker.declare_queue(self.dead_letter_queue)
        await queue.bind(dead_letters)
        log = await self._broker.declare_queue(self.event_log)
        await log.bind(exchange, routing_key="#")  # events and replay markers
        for consumer in SUBSCRIPTIONS:
            for event_type in subscribed_types(consumer):
                declared = await self._broker.declare_queue(self.queue(consumer, event_type))
                await declared.bind(exchange, routing_key=event_type)
        await self._broker.start()

    async def close(self) -> None:
        await self._broker.stop()

    async def publish(
        self,
        event_type: str,
        event_id: str,
        payload: bytes,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        await self._broker.publish(
            payload,
            exchange=self.exchange,
            routing_key=event_type,
            message_id=event_id,
            headers=dict(headers) if headers else None,
            content_type="application/json",
            persist=True,
            mandatory=True,
            timeout=5.0,
        )

    def subscribe(self, consumer: str, handler: Handler) -> None:
        for event_type in subscribed_types(consumer):
            self._subscribe_one(consumer, event_type, handler)

    def _subscribe_one(self, consumer: str, event_type: str, handler: Handler) -> None:
        queue = self.queue(consumer, event_type)

        async def consume(message: Message) -> None:
            payload: bytes = message.body
            received = message.raw_message.headers or {}
            # Quorum queues count failed deliveries in x-delivery-count (absent on the first).
            previous = int(received.get("x-delivery-count") or 0)
            delivery = _Delivery(event_type, queue.name, payload, previous + 1, received)

            async def send_to_dead_letters(headers: dict[str, str]) -> None:
                await self._broker.publish(
                    payload,
                    exchange=self.dead_letter_exchange,
                    headers=dict(headers),
                    content_type="application/json",
                    persist=True,
                    timeout=5.0,
                )

            async def redeliver_after(delay: float) -> None:
                # RabbitMQ cannot delay a requeue: wait here (this consumer waits with it).
                await asyncio.sleep(delay)
                await message.nack()

            await self._deliver(consumer, handler, delivery, send_to_dead_letters, redeliver_after)

        self._broker.subscriber(
            queue,
            self.exchange,
            ack_policy=AckPolicy.NACK_ON_ERROR,
            title=f"{consumer}:{event_type}",
        )(consume)

    async def replay(self, handler: Handler) -> int:
        """Feed every event retained in the stream queue `<ns>.event-log`, oldest first, to
        `handler`; returns how many."""

        async def parse(payload: bytes) -> None:
            await handler(from_json(payload))

        return await self.replay_raw(parse)

    async def replay_raw(self, handler: RawHandler) -> int:
        """Every retained message's bytes, oldest first, as the broker holds them. A stream has
        no "end" to read up to, so an end marker is published first (routing key
        `replay-marker`, bound to the log only) and the replay stops at it; markers of earlier
        replays are skipped."""
        connection = self._broker._connection
        assert connection is not None, "start() the bus first"
        marker = str(uuid.uuid4())
        await self._broker.publish(
            b"",
            exchange=self.exchange,
            routing_key=REPLAY_MARKER,
            message_id=marker,
            persist=True,
            timeout=5.0,
        )
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=100)
        events: asyncio.Queue[IncomingMessage] = asyncio.Queue()
        count = 0
        try:
            queue = await channel.get_queue(self.event_log.name)
            await queue.consume(events.put, arguments={"x-stream-offset": "first"})
            while True:
                message = await asyncio.wait_for(events.get(), REPLAY_IDLE_TIMEOUT_SECONDS)
                await message.ack()
                if message.routing_key == REPLAY_MARKER:
                    if message.message_id == marker:
                        return count
                    continue
                await handler(message.body)
                count += 1
        finally:
            await channel.close()

    async def dead_letters(self) -> list[DeadLetter]:
        """Peek: get every message unacknowledged, then close the channel, which requeues them."""
        connection = self._broker._connection  # FastStream's aio-pika connection, once started
        assert connection is not None, "start() the bus first"
        channel = await connection.channel()
        letters = []
        try:
            queue = await channel.get_queue(self.dead_letter_queue.name)
            while (message := await queue.get(no_ack=False, fail=False)) is not None:
                letters.append(_dead_letter(dict(message.headers or {}), message.body))
        finally:
            await channel.close()
        return letters

    async def redrive(self, selection: Selection) -> list[DeadLetter]:
        """Put each selected dead letter back on the queue of the consumer that gave up on it
        (through the default exchange: no other consumer, nor the event log, sees it again),
        confirmed, then ack it off the dead letters; the others are left there."""
        connection = self._broker._connection
        assert connection is not None, "start() the bus first"
        channel = await connection.channel(publisher_confirms=True)
        redriven = []
        try:
            queue = await channel.get_queue(self.dead_letter_queue.name)
            while (message := await queue.get(no_ack=False, fail=False)) is not None:
                letter = _dead_letter(dict(message.headers or {}), message.body)
                if not (redrivable(letter) and selection(letter)):
                    continue
                assert letter.event_type is not None
                target = self.queue(letter.consumer, letter.event_type).name
                await channel.default_exchange.publish(
                    aio_pika.Message(
                        message.body,
                        headers=dict(trace_headers_of(message.headers or {})) or None,
                        message_id=letter.event_id,
                        content_type="application/json",
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    ),
                    routing_key=target,
                    mandatory=True,
                )
                await message.ack()
                redriven.append(letter)
        finally:
            await channel.close()  # requeues the dead letters not taken
        return redriven
