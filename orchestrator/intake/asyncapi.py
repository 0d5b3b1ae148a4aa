r"""docs/asyncapi.json: the choreography's events (choreography/asyncapi.py) and the channel the
intake consumes, generated from the code:

    faststream docs gen --out docs/asyncapi.json \
        --factory orchestrator.intake.asyncapi:specification

The intake's channel is the registry's public event, documented with the intake's default
names on NATS; its RabbitMQ twin and the mode rule are in the channel's description. Nothing
connects to a broker.
"""

from typing import Literal

from faststream import FastStream
from faststream.nats import JStream, NatsBroker, PullSub
from faststream.specification import AsyncAPI

from choreography.asyncapi import specification as choreography_specification
from orchestrator.intake.config import IntakeSettings
from workflows.contracts import NewStudent


class StudentCreatedMessage(NewStudent):
    """The student registry's event: one message, one orchestrated saga (the intake's
    contract; fields validated as `POST /students` validates them, unknown ones ignored)."""

    type: Literal["StudentCreated"]
    version: Literal[1]


async def _not_run(event: StudentCreatedMessage) -> None:
    raise NotImplementedError("documentation only")


def specification() -> FastStream:
    broker = choreography_specification().broker
    assert isinstance(broker, NatsBroker)
    settings = IntakeSettings(_env_file=None)  # type: ignore[call-arg]  # the defaults only
    broker.subscriber(
        settings.intake_nats_subject,
        stream=JStream(settings.intake_nats_stream, declare=False),
        durable=settings.intake_nats_consumer,
        pull_sub=PullSub(batch_size=settings.intake_concurrency),
        title=f"intake:{settings.intake_nats_subject}",
        description=(
            "The student registry's public StudentCreated event, consumed by the orchestrator's "
            "intake (python -m orchestrator.intake), which starts one orchestrated saga per "
            "student (workflow id student-onboarding-<student_id>). NATS: subject "
            f"{settings.intake_nats_subject}, captured by the JetStream stream "
            f"{settings.intake_nats_stream} (created by the intake if missing), header "
            "Content-Type: application/json. RabbitMQ: durable topic exchange "
            f"{settings.intake_rabbitmq_exchange}, routing key "
            f"{settings.intake_rabbitmq_routing_key}, AMQP content_type application/json, "
            f"consumed through the intake's queue {settings.intake_rabbitmq_queue}. "
            "Distinct from the choreography's internal <namespace>.events.StudentCreated: "
            "an event here never starts a choreographed saga. Acknowledged once Temporal "
            "accepted the start; a message that breaks the contract goes, with its reason, "
            f"to {settings.intake_nats_dead_letter_stream} (NATS) or "
            f"{settings.intake_rabbitmq_dead_letter_queue} (RabbitMQ)."
        ),
    )(_not_run)
    return FastStream(
        broker,
        specification=AsyncAPI(
            title="Student onboarding saga: events",
            version="1.1.0",
            description=(
                "The student registry's StudentCreated event, which the orchestrator's intake "
                "consumes (channel intake:students.created), and the events of the "
                "choreographed student onboarding saga on NATS JetStream (the same events go "
                "over a RabbitMQ topic exchange with routing key = type). Choreography "
                "subjects are <namespace>.events.<Type>; the default namespace is 'saga'."
            ),
        ),
    )
