"""The choreographed sagas' operator commands, one Typer app: `python -m choreography <command>`
and, the same commands, `saga choreography <command>` (orchestrator/ops/cli.py mounts it).

    dead-letters      the events consumers gave up on (`--json`: every field)
    redrive           deliver them again, once the cause is fixed (`--dry-run` shows which)
    rebuild-tracker   drop the saga tracker and replay the retained event log (API stopped:
                      a live tracker would race the replay)

The broker: `--broker-url`, else $BROKER_URL (as the services read it), else $SAGA_BROKER_URL
(as `make up` reads it), else the embedded NATS of `make up`; the namespace $BROKER_NAMESPACE,
else $SAGA_BROKER_NAMESPACE; $BROKER_MAX_ATTEMPTS like the services (on RabbitMQ a queue's
delivery limit follows from it, and the broker refuses to declare it with another).
rebuild-tracker also reads the API's DATABASE_URL (default DATA_DIR/api.db).

Exit codes, as the saga CLI's: 0 done; 2 bad usage or a database not at the API's schema; 3 a
redrive that found no dead letter; 4 the broker cannot be reached.
"""

import asyncio
import json
import os
from collections.abc import Callable, Coroutine
from dataclasses import asdict
from typing import Annotated, Any, NoReturn, TypeVar

import nats
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from sqlalchemy import inspect

from choreography.bus import DeadLetter, redrivable
from choreography.config import DEFAULT_NATS_URL, BrokerConfig, ChoreographyToolSettings
from choreography.operations import list_dead_letters, rebuild_tracker, redrive_dead_letters
from choreography.tracker import TABLES as TRACKER_TABLES
from common.database import create_database_engine

EXIT_USAGE = 2
EXIT_NOTHING_MATCHED = 3
EXIT_UNREACHABLE = 4

T = TypeVar("T")

app = typer.Typer(
    help="The choreographed sagas: list and redrive dead letters, rebuild the saga tracker.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

BrokerUrlOption = Annotated[
    str | None,
    typer.Option(
        "--broker-url",
        help="The choreography's broker (default: $BROKER_URL, else $SAGA_BROKER_URL, else the "
        "embedded NATS of `make up`).",
    ),
]
ConsumerOption = Annotated[str | None, typer.Option(help="Only this consumer's.")]
EventTypeOption = Annotated[str | None, typer.Option(help="Only events of this type.")]
StudentOption = Annotated[str | None, typer.Option(help="Only this student's saga.")]


def broker_config(broker_url: str | None, settings: ChoreographyToolSettings) -> BrokerConfig:
    # In the shell that runs `make up`: the broker and namespace it was told to use.
    chosen = broker_url or settings.broker_url or os.environ.get("SAGA_BROKER_URL")
    namespace = settings.broker_namespace
    if "broker_namespace" not in settings.model_fields_set:
        namespace = os.environ.get("SAGA_BROKER_NAMESPACE") or namespace
    try:
        return BrokerConfig(
            url=chosen or DEFAULT_NATS_URL,
            namespace=namespace,
            max_attempts=settings.broker_max_attempts,
            retention_seconds=settings.choreography_retention_seconds,
        )
    except ValidationError as error:
        raise typer.BadParameter(f"--broker-url: {error.errors()[0]['msg']}") from error


def _fail(code: int, message: str) -> NoReturn:
    err.print(f"error: {message}", markup=False, soft_wrap=True)
    raise typer.Exit(code)


def _on_broker(config: BrokerConfig, work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    try:
        return asyncio.run(work())
    except (OSError, nats.errors.Error) as error:  # aio-pika's connection errors are OSErrors
        _fail(EXIT_UNREACHABLE, f"cannot reach the broker at {config.url}: {error}")


def _selection(
    consumer: str | None, event_type: str | None, student: str | None
) -> Callable[[DeadLetter], bool]:
    def selected(letter: DeadLetter) -> bool:
        return (
            consumer in (None, letter.consumer)
            and event_type in (None, letter.event_type)
            and student in (None, letter.student_id)
        )

    return selected


@app.command("dead-letters")
def dead_letters(
    as_json: Annotated[
        bool, typer.Option("--json", help="Every field, the event as it was sent included.")
    ] = False,
    broker_url: BrokerUrlOption = None,
) -> None:
    """Events the consumers gave up on, oldest first: consumer, attempts, event, student, error
    (nothing is removed)."""
    config = broker_config(broker_url, ChoreographyToolSettings())
    letters = _on_broker(config, lambda: list_dead_letters(config))
    if as_json:
        out.print_json(json.dumps([asdict(letter) for letter in letters]))
        return
    table = Table(title=f"{len(letters)} dead letters")
    for column in ("consumer", "attempts", "event", "student", "error"):
        table.add_column(column, overflow="fold")
    for letter in letters:
        table.add_row(
            letter.consumer,
            str(letter.attempts),
            letter.event_type or "?",
            letter.student_id or "?",
            letter.error,
        )
    out.print(table)


@app.command("redrive")
def redrive(
    consumer: ConsumerOption = None,
    event_type: EventTypeOption = None,
    student: StudentOption = None,
    dry_run: Annotated[bool, typer.Option(help="Only show what would be redriven.")] = False,
    broker_url: BrokerUrlOption = None,
) -> None:
    """Deliver the selected dead letters again, each to the consumer that gave up on it, with a
    full retry budget (fix the cause first); safe to repeat. Unparseable events stay."""
    config = broker_config(broker_url, ChoreographyToolSettings())
    selected = _selection(consumer, event_type, student)
    if dry_run:
        letters = _on_broker(config, lambda: list_dead_letters(config))
        redriven = [letter for letter in letters if redrivable(letter) and selected(letter)]
    else:
        redriven = _on_broker(config, lambda: redrive_dead_letters(config, selected))
    verb = "would be redriven" if dry_run else "redriven"
    table = Table(title=("Dry run: " if dry_run else "") + "redrive")
    for column in ("consumer", "event", "student"):
        table.add_column(column, overflow="fold")
    for letter in redriven:
        table.add_row(letter.consumer, letter.event_type or "?", letter.student_id or "?")
    out.print(table)
    out.print(f"{len(redriven)} dead letter(s) {verb}.")
    if not redriven:
        _fail(EXIT_NOTHING_MATCHED, "no dead letter matched")


@app.command("rebuild-tracker")
def rebuild(broker_url: BrokerUrlOption = None) -> None:
    """Drop the saga tracker's state and rebuild it by replaying the retained event stream."""
    settings = ChoreographyToolSettings()
    config = broker_config(broker_url, settings)
    engine = create_database_engine(settings.tracker_database_url())
    try:
        # The API owns its database's schema (it migrates it at start): the tool never alters it.
        tables = {table.__tablename__ for table in TRACKER_TABLES}
        if missing := tables - set(inspect(engine).get_table_names()):
            _fail(
                EXIT_USAGE,
                f"the API's database has no {', '.join(sorted(missing))} table: start the API "
                "once (it migrates its database) or run `python -m orchestrator db upgrade head`",
            )
        replayed = _on_broker(config, lambda: rebuild_tracker(config, engine))
    finally:
        engine.dispose()
    out.print(f"Tracker rebuilt from {replayed} event(s).")
