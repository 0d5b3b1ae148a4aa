"""`python -m choreography`: operate the choreographed sagas.

    python -m choreography dead-letters      list events that consumers gave up on
    python -m choreography redrive           deliver them again (after fixing the cause)
    python -m choreography rebuild-tracker   drop the saga tracker and replay the event log

Both read BROKER_URL and BROKER_NAMESPACE like the services; rebuild-tracker also the API's
DATABASE_URL (default DATA_DIR/api.db). Stop the API first: a live tracker would race the replay.
"""

import asyncio
from collections.abc import Coroutine
from typing import Annotated, Any, TypeVar

import nats
import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import inspect

from choreography.bus import DeadLetter
from choreography.config import BrokerConfig, ChoreographyToolSettings
from choreography.operations import list_dead_letters, rebuild_tracker, redrive_dead_letters
from choreography.tracker import TABLES as TRACKER_TABLES
from common.database import create_database_engine

TRACKER_TABLES_NAMES = [table.__tablename__ for table in TRACKER_TABLES]

T = TypeVar("T")

app = typer.Typer(no_args_is_help=True, add_completion=False)
console = Console()


def _settings() -> ChoreographyToolSettings:
    settings = ChoreographyToolSettings()
    if settings.broker_config() is None:
        console.print("[red]Set BROKER_URL (e.g. nats://127.0.0.1:4223).[/red]")
        raise typer.Exit(2)
    return settings


def _on_broker(config: BrokerConfig, work: Coroutine[Any, Any, T]) -> T:
    """Run an operator task; a broker that is down ends the command with exit code 4."""
    try:
        return asyncio.run(work)
    except (OSError, nats.errors.Error) as error:  # aio-pika's connection errors are OSErrors
        console.print(f"[red]Cannot reach the broker at {config.url}: {error}[/red]")
        raise typer.Exit(4) from error


@app.command("dead-letters")
def dead_letters() -> None:
    """List dead letters: consumer, attempts, event, student and the last error."""
    config = _settings().broker_config()
    assert config is not None
    letters = _on_broker(config, list_dead_letters(config))
    table = Table("consumer", "attempts", "event", "student", "error", title="Dead letters")
    for letter in letters:
        table.add_row(
            letter.consumer,
            str(letter.attempts),
            letter.event_type or "?",
            letter.student_id or "?",
            letter.error,
        )
    console.print(table)
    console.print(f"{len(letters)} dead letter(s)")


@app.command("redrive")
def redrive(
    consumer: Annotated[str | None, typer.Option(help="Only this consumer's.")] = None,
    event_type: Annotated[str | None, typer.Option(help="Only events of this type.")] = None,
    student: Annotated[str | None, typer.Option(help="Only this student's saga.")] = None,
) -> None:
    """Deliver dead letters again to the consumers that gave up on them (fix the cause first).
    Unparseable events stay: they would fail again."""
    config = _settings().broker_config()
    assert config is not None

    def selected(letter: DeadLetter) -> bool:
        return (
            consumer in (None, letter.consumer)
            and event_type in (None, letter.event_type)
            and student in (None, letter.student_id)
        )

    redriven = _on_broker(config, redrive_dead_letters(config, selected))
    for letter in redriven:
        console.print(f"{letter.consumer}: {letter.event_type} of {letter.student_id}")
    console.print(f"{len(redriven)} dead letter(s) re-driven")


@app.command("rebuild-tracker")
def rebuild() -> None:
    """Drop the saga tracker's state and rebuild it by replaying the retained event stream."""
    settings = _settings()
    config = settings.broker_config()
    assert config is not None
    engine = create_database_engine(settings.tracker_database_url())
    try:
        # The API owns its database's schema (it migrates it at start): the tool never alters it.
        missing = set(TRACKER_TABLES_NAMES) - set(inspect(engine).get_table_names())
        if missing:
            console.print(
                f"[red]The API's database has no {', '.join(sorted(missing))} table: start the "
                "API once (it migrates its database) or run `python -m orchestrator db upgrade "
                "head`.[/red]"
            )
            raise typer.Exit(2)
        replayed = _on_broker(config, rebuild_tracker(config, engine))
    finally:
        engine.dispose()
    console.print(f"Tracker rebuilt from {replayed} event(s).")


if __name__ == "__main__":
    app()
