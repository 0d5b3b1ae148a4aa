"""The student registry's producer, written as another team would write it: plain nats-py and
aio-pika and the contract from the README, none of our own bus or intake code."""

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

import aio_pika
import nats

NATS_SUBJECT = "students.created"
RABBITMQ_EXCHANGE = "students"
RABBITMQ_ROUTING_KEY = "student.created"


def student_created(
    course_id: str = "CS101", payment_token: str = "tok_visa", **fields: Any
) -> dict[str, Any]:
    return {
        "type": "StudentCreated",
        "version": 1,
        "student_id": f"stu-{uuid.uuid4().hex[:10]}",
        "name": "Katherine Johnson",
        "email": "katherine@example.com",
        "course_id": course_id,
        "payment_token": payment_token,
        **fields,
    }


class Registry(Protocol):
    async def publish(
        self,
        body: bytes,
        content_type: str | None = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None: ...


async def publish_event(registry: Registry, event: dict[str, Any], **options: Any) -> None:
    await registry.publish(json.dumps(event).encode(), **options)


class NatsRegistry:
    def __init__(self, connection: nats.NATS) -> None:
        self._js = connection.jetstream()

    async def publish(
        self,
        body: bytes,
        content_type: str | None = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        sent = dict(headers or {})
        if content_type is not None:
            sent["Content-Type"] = content_type
        await self._js.publish(NATS_SUBJECT, body, headers=sent or None)


class RabbitRegistry:
    def __init__(self, exchange: aio_pika.abc.AbstractExchange) -> None:
        self._exchange = exchange

    async def publish(
        self,
        body: bytes,
        content_type: str | None = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        message = aio_pika.Message(
            body,
            content_type=content_type,
            headers=dict(headers or {}),
            message_id=uuid.uuid4().hex,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        await self._exchange.publish(message, routing_key=RABBITMQ_ROUTING_KEY)


@asynccontextmanager
async def registry(url: str) -> AsyncIterator[Registry]:
    """A producer on the broker `url` names; the intake declared the stream or exchange."""
    if url.startswith("amqp"):
        connection = await aio_pika.connect(url)
        async with connection:
            channel = await connection.channel(publisher_confirms=True)
            exchange = await channel.declare_exchange(
                RABBITMQ_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
            )
            yield RabbitRegistry(exchange)
        return
    client = await nats.connect(url)
    try:
        yield NatsRegistry(client)
    finally:
        await client.close()
