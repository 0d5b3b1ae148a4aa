"""`saga publish-student` and `saga intake ...`: the intake's commands, registered on the `saga`
CLI (orchestrator/ops/cli.py). They talk to the broker only, never to Temporal or the API, with the
intake's settings (INTAKE_BROKER_URL, else BROKER_URL, else SAGA_BROKER_URL as `make up` reads
it, else the embedded NATS of `make up`; `--broker-url` overrides).

`publish-student` is the registry's side, written as the registry's team would write it: plain
nats-py or aio-pika and the contract in the README, nothing of the intake's own code.
"""

import asyncio
import json
import os
import re
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import aio_pika
import nats
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from orchestrator.intake import create_broker
from orchestrator.intake.config import IntakeSettings
from orchestrator.intake.dead_letters import DeadLetter, RedrivePlan
from orchestrator.temporal import workflow_ui_url
from workflows.contracts import workflow_id_for

# The exit codes of every `saga` command (orchestrator/ops/cli.py's module docstring).
EXIT_REFUSED = 1
EXIT_NOTHING_MATCHED = 3
EXIT_UNREACHABLE = 4

T = TypeVar("T")

app = typer.Typer()
intake_app = typer.Typer(
    help="The event intake's dead letters: list them, redrive the ones fixed.",
    no_args_is_help=True,
)
app.add_typer(intake_app, name="intake")
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

BrokerUrlOption = Annotated[
    str | None,
    typer.Option(
        help="The intake's broker (default: $INTAKE_BROKER_URL, else $BROKER_URL, else "
        "$SAGA_BROKER_URL, else the embedded NATS of `make up`)."
    ),
]


def _settings(broker_url: str | None) -> IntakeSettings:
    settings = IntakeSettings()
    # In the shell that runs `make up`: the broker it was told to use.
    chosen = broker_url or settings.intake_broker_url or settings.broker_url
    chosen = chosen or os.environ.get("SAGA_BROKER_URL")
    if chosen is None:
        return settings
    try:
        return IntakeSettings(intake_broker_url=chosen)
    except ValidationError as error:
        raise typer.BadParameter(f"--broker-url: {error.errors()[0]['msg']}") from error


def _fail(code: int, message: str) -> NoReturn:
    err.print(f"error: {message}", markup=False, soft_wrap=True)
    raise typer.Exit(code)


def _run(settings: IntakeSettings, work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    try:
        return asyncio.run(work())
    except (OSError, nats.errors.NoServersError, aio_pika.exceptions.AMQPConnectionError) as error:
        _fail(EXIT_UNREACHABLE, f"cannot reach the broker at {settings.intake_broker()}: {error}")


@app.command("publish-student")
def publish_student(
    name: Annotated[str, typer.Option(help="The student's name.")],
    course: Annotated[str, typer.Option(help="Course to enroll in, e.g. CS101.")],
    email: Annotated[str | None, typer.Option(help="Default: made from the name.")] = None,
    payment_token: Annotated[str, typer.Option(help="e.g. tok_visa, tok_declined.")] = "tok_visa",
    student_id: Annotated[str | None, typer.Option(help="Default: generated.")] = None,
    broker_url: BrokerUrlOption = None,
) -> None:
    """Publish a StudentCreated event as the student registry does; the intake starts its saga."""
    settings = _settings(broker_url)
    student_id = student_id or f"stu-{uuid.uuid4().hex[:12]}"
    local_part = re.sub(r"[^a-z0-9]+", ".", name.lower()).strip(".") or "student"
    event = {
        "type": "StudentCreated",
        "version": 1,
        "student_id": student_id,
        "name": name,
        "email": email or f"{local_part}@example.com",
        "course_id": course,
        "payment_token": payment_token,
    }
    body = json.dumps(event).encode()
    if settings.intake_broker_kind() == "rabbitmq":
        channel = f"exchange {settings.intake_rabbitmq_exchange}"
        _run(settings, lambda: _publish_on_rabbitmq(settings, body))
    else:
        channel = f"subject {settings.intake_nats_subject}"
        _run(settings, lambda: _publish_on_nats(settings, body))
    out.print(f"Published StudentCreated for {student_id} to {channel}.")
    out.print(f"Its saga: {workflow_ui_url(settings, workflow_id_for(student_id), None)}")


async def _publish_on_nats(settings: IntakeSettings, body: bytes) -> None:
    client = await nats.connect(
        settings.intake_broker(), connect_timeout=5, max_reconnect_attempts=1
    )
    try:
        await client.jetstream().publish(
            settings.intake_nats_subject,
            body,
            headers={"Content-Type": "application/json"},
            timeout=5,
        )
    finally:
        await client.close()


async def _publish_on_rabbitmq(settings: IntakeSettings, body: bytes) -> None:
    connection = await aio_pika.connect(settings.intake_broker(), timeout=5)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.declare_exchange(
            settings.intake_rabbitmq_exchange, aio_pika.ExchangeType.TOPIC, durable=True
        )
        await exchange.publish(
            aio_pika.Message(
                body,
                content_type="application/json",
                message_id=uuid.uuid4().hex,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=settings.intake_rabbitmq_routing_key,
        )


@intake_app.command("dead-letters")
def dead_letters(
    as_json: Annotated[
        bool, typer.Option("--json", help="Every field, bodies and headers included.")
    ] = False,
    broker_url: BrokerUrlOption = None,
) -> None:
    """The messages the intake refused, oldest first, with the reason (nothing is removed)."""
    settings = _settings(broker_url)
    letters = _run(settings, lambda: _dead_letters(settings))
    if as_json:
        out.print_json(json.dumps([_jsonable(letter) for letter in letters]))
        return
    table = Table(title=f"{len(letters)} dead letters")
    for column in ("id", "refusal", "student", "at", "reason"):
        table.add_column(column, overflow="fold")
    for letter in letters:
        table.add_row(
            letter.id,
            letter.refusal,
            letter.student_id or "",
            letter.dead_lettered_at,
            letter.reason,
        )
    out.print(table)


async def _dead_letters(settings: IntakeSettings) -> list[DeadLetter]:
    broker = create_broker(settings)
    await broker.connect(wait_for_broker=False)
    try:
        return await broker.dead_letters()
    finally:
        await broker.close()


def _jsonable(letter: DeadLetter) -> dict[str, Any]:
    fields = asdict(letter)
    fields["body"] = letter.body.decode(errors="replace")
    return fields


@intake_app.command()
def redrive(
    ids: Annotated[
        list[str] | None,
        typer.Option("--id", help="Only this dead letter (repeatable); default: every one."),
    ] = None,
    body_file: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="A corrected body (JSON) for the one --id, sent as application/json.",
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Only show what would be redriven.")] = False,
    broker_url: BrokerUrlOption = None,
) -> None:
    """Republish the dead letters that pass the contract now (the intake learnt to read them,
    or --body-file corrects one) and remove them; the others stay, with today's reason."""
    selected = frozenset(ids or ())
    replacement = body_file.read_bytes() if body_file is not None else None
    try:
        plan = RedrivePlan(selected, replacement, dry_run)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
    settings = _settings(broker_url)
    _run(settings, lambda: _redrive(settings, plan))
    table = Table(title=("Dry run: " if dry_run else "") + "redrive")
    for column in ("id", "student", "outcome", "reason"):
        table.add_column(column, overflow="fold")
    verb = "would be redriven" if dry_run else "redriven"
    for outcome in plan.outcomes:
        table.add_row(
            outcome.letter.id,
            outcome.letter.student_id or "",
            verb if outcome.redriven else "kept",
            outcome.reason or "",
        )
    out.print(table)
    redriven = sum(outcome.redriven for outcome in plan.outcomes)
    out.print(f"{redriven} {verb}, {len(plan.outcomes) - redriven} kept.")
    missing = selected - {outcome.letter.id for outcome in plan.outcomes}
    if missing:
        _fail(EXIT_NOTHING_MATCHED, f"no dead letter with id {', '.join(sorted(missing))}")
    if not plan.outcomes:
        _fail(EXIT_NOTHING_MATCHED, "there are no dead letters")
    if not redriven:
        _fail(EXIT_REFUSED, "no selected dead letter passes the contract yet")


async def _redrive(settings: IntakeSettings, plan: RedrivePlan) -> None:
    broker = create_broker(settings)
    await broker.connect(wait_for_broker=False)
    try:
        await broker.redrive(plan.decide)
    finally:
        await broker.close()
