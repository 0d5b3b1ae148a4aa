"""The intake on NATS JetStream, with nats-py itself: the registry's contract is a foreign one,
so the intake reads each message's own headers and delivery count rather than a bus's envelope.

The stream (default `STUDENTS`, capturing `students.created`) is created if missing and never
changed if present: it may be the registry's. The intake reads it with a durable pull consumer
of its own (`saga-intake`): explicit acks, no delivery limit, every retained message from the
first (an event published while the intake was down is waiting for it). A redelivery's backoff
is a delayed NAK, so the messages behind it go on. Dead letters go to a stream of the
intake's own, deduplicated by the original's stream sequence (a dead letter stored twice when
its acknowledgement was lost is stored once).
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable

import nats
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import BadRequestError, NotFoundError

from orchestrator.intake.config import IntakeSettings
from orchestrator.intake.dead_letters import DeadLetter, Republish, read_dead_letter
from orchestrator.intake.deliveries import Delivery, Intake

log = logging.getLogger("orchestrator.intake")

CONTENT_TYPE_HEADER = "Content-Type"
MESSAGE_ID_HEADER = "Nats-Msg-Id"
# Longer than a start can take while Temporal is unreachable (the client retries ~10 s).
ACK_WAIT_SECONDS = 60.0
FETCH_TIMEOUT_SECONDS = 1.0


def _content_type(headers: dict[str, str]) -> str | None:
    for name, value in headers.items():
        if name.lower() == CONTENT_TYPE_HEADER.lower():
            return value
    return None


def _without(headers: dict[str, str], *names: str) -> dict[str, str]:
    lowered = {name.lower() for name in names}
    return {name: value for name, value in headers.items() if name.lower() not in lowered}


async def _log_connection_error(error: Exception) -> None:
    # nats-py's default prints a traceback per failed attempt, every second of an outage.
    log.warning("NATS connection: %r", error)


class NatsIntake:
    def __init__(self, settings: IntakeSettings) -> None:
        self.settings = settings
        self._connection: NatsClient | None = None
        self._consuming: asyncio.Task[None] | None = None
        self._in_flight: set[asyncio.Task[None]] = set()

    @property
    def _js(self) -> JetStreamContext:
        assert self._connection is not None, "connect() first"
        return self._connection.jetstream()

    @property
    def connected(self) -> bool:
        return self._connection is not None and self._connection.is_connected

    async def connect(self, wait_for_broker: bool = True) -> None:
        """Connect and declare the streams if they are missing. An outage of the broker is
        waited out, never fatal; without `wait_for_broker` (a command), one that is down at
        the start fails it."""
        self._connection = await nats.connect(
            self.settings.intake_broker(),
            name="saga-intake",
            # nats-py: a negative or zero limit is no limit; a command tries twice.
            max_reconnect_attempts=-1 if wait_for_broker else 1,
            reconnect_time_wait=1,
            error_cb=_log_connection_error,
        )
        settings = self.settings
        await self._add_stream_if_missing(
            StreamConfig(
                name=settings.intake_nats_stream,
                subjects=[settings.intake_nats_subject],
                retention=RetentionPolicy.LIMITS,
                storage=StorageType.FILE,
            )
        )
        await self._add_stream_if_missing(
            StreamConfig(
                name=settings.intake_nats_dead_letter_stream,
                subjects=[settings.intake_nats_dead_letter_subject],
                retention=RetentionPolicy.LIMITS,
                storage=StorageType.FILE,
            )
        )

    async def _add_stream_if_missing(self, config: StreamConfig) -> None:
        assert config.name is not None
        try:
            await self._js.stream_info(config.name)
        except NotFoundError:
            # BadRequest: created meanwhile, by another intake or by the registry.
            with contextlib.suppress(BadRequestError):
                await self._js.add_stream(config=config)

    async def start(self, intake: Intake) -> None:
        """Consume in the background until close()."""
        settings = self.settings
        subscription = await self._js.pull_subscribe(
            settings.intake_nats_subject,
            durable=settings.intake_nats_consumer,
            stream=settings.intake_nats_stream,
            config=ConsumerConfig(
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                max_deliver=-1,
                ack_wait=ACK_WAIT_SECONDS,
                max_ack_pending=max(1000, settings.intake_concurrency),
            ),
        )
        self._consuming = asyncio.create_task(self._consume(subscription, intake))

    async def _consume(
        self, subscription: JetStreamContext.PullSubscription, intake: Intake
    ) -> None:
        limit = self.settings.intake_concurrency
        while True:
            if len(self._in_flight) >= limit:
                await asyncio.wait(self._in_flight, return_when=asyncio.FIRST_COMPLETED)
                continue
            try:
                messages = await subscription.fetch(
                    limit - len(self._in_flight), timeout=FETCH_TIMEOUT_SECONDS
                )
            except NatsTimeout:
                continue
            except Exception as error:  # disconnected: the client reconnects by itself
                log.warning("fetching from %s failed: %r", self.settings.intake_nats_stream, error)
                await asyncio.sleep(1)
                continue
            for message in messages:
                task = asyncio.create_task(self._deliver(message, intake))
                self._in_flight.add(task)
                task.add_done_callback(self._in_flight.discard)

    async def _deliver(self, message: Msg, intake: Intake) -> None:
        headers = dict(message.headers or {})
        delivery = Delivery(
            body=message.data,
            content_type=_content_type(headers),
            source=message.subject,
            number=message.metadata.num_delivered or 1,
            headers=headers,
        )
        try:
            await intake.receive(delivery, _Settlement(self, message))
        except Exception as error:  # an ack or NAK lost with the connection
            log.warning("settling delivery %d failed (%r): it comes again", delivery.number, error)

    async def dead_letter(self, message: Msg, added: dict[str, str]) -> None:
        headers = _without(dict(message.headers or {}), MESSAGE_ID_HEADER) | added
        sequence = message.metadata.sequence.stream
        headers[MESSAGE_ID_HEADER] = f"{self.settings.intake_nats_stream}:{sequence}"
        await self._js.publish(
            self.settings.intake_nats_dead_letter_subject,
            message.data,
            headers=headers,
            stream=self.settings.intake_nats_dead_letter_stream,
            timeout=5.0,
        )

    async def close(self) -> None:
        """Stop fetching, let the deliveries in flight finish, disconnect. A delivery not
        acknowledged by then is redelivered to the next intake."""
        if self._consuming is not None:
            self._consuming.cancel()
            await asyncio.gather(self._consuming, return_exceptions=True)
        if self._in_flight:
            await asyncio.wait(self._in_flight, timeout=15)
        if self._connection is not None:
            await self._connection.close()

    async def dead_letters(self) -> list[DeadLetter]:
        return [letter for _, letter in await self._stored_dead_letters()]

    async def _stored_dead_letters(self) -> list[tuple[int, DeadLetter]]:
        stream = self.settings.intake_nats_dead_letter_stream
        info = await self._js.stream_info(stream)
        letters: list[tuple[int, DeadLetter]] = []
        if not info.state.messages:  # an empty stream has no sequence to read, not even 0
            return letters
        for sequence in range(info.state.first_seq, info.state.last_seq + 1):
            try:
                message = await self._js.get_msg(stream, sequence)
            except NotFoundError:  # a gap: a letter redriven or deleted
                continue
            headers = _without(dict(message.headers or {}), MESSAGE_ID_HEADER)
            letter = read_dead_letter(message.data or b"", _content_type(headers), headers)
            letters.append((sequence, letter))
        return letters

    async def redrive(self, decide: Callable[[DeadLetter], Republish | None]) -> None:
        """Republish, to the intake's subject, each dead letter `decide` returns a message
        for, then remove it. Published first: a crash in between leaves a duplicate event,
        which starts nothing new, never a lost one."""
        for sequence, letter in await self._stored_dead_letters():
            republish = decide(letter)
            if republish is None:
                continue
            headers = _without(republish.headers, CONTENT_TYPE_HEADER)
            if republish.content_type is not None:
                headers[CONTENT_TYPE_HEADER] = republish.content_type
            await self._js.publish(
                self.settings.intake_nats_subject,
                republish.body,
                headers=headers,
                stream=self.settings.intake_nats_stream,
                timeout=5.0,
            )
            await self._js.delete_msg(self.settings.intake_nats_dead_letter_stream, sequence)


class _Settlement:
    def __init__(self, intake: NatsIntake, message: Msg) -> None:
        self._intake = intake
        self._message = message

    async def ack(self) -> None:
        await self._message.ack()

    async def dead_letter(self, headers: dict[str, str]) -> None:
        await self._intake.dead_letter(self._message, headers)

    async def redeliver_after(self, delay: float) -> None:
        await self._message.nak(delay=delay)
