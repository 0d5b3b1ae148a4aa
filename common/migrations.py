"""Database schemas under Alembic.

Each database has its own line of revisions, next to the code that owns it: enrollment's in
services/enrollment/migrations/, billing's in services/billing/migrations/, the API's (the
choreographed sagas, their tracker, outbox and inbox) in orchestrator/migrations/. They share one
migration environment, common/alembic_env/, which this module configures: nothing reads an
alembic.ini, the database URL comes from the process's settings.

SQLModel.metadata holds the tables of every service, so each schema names its own tables and
Alembic sees no other: it neither creates them nor, when two services share a database in
development, proposes to drop the other's. Each schema also keeps its revision in its own table
(alembic_version_<name>) for the same reason.

At start a process calls `prepare_database` (see docs/deployment.md, "Database migrations").
"""

import importlib.util
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from alembic import command
from alembic.autogenerate.api import AutogenContext
from alembic.config import CommandLine, Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, inspect
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

from common.database import create_database_engine, lock_for_transaction
from common.settings import MigrationMode

ENVIRONMENT_DIRECTORY = Path(__file__).parent / "alembic_env"
DATABASE_COMMAND = "db"

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Schema:
    """One database's tables and the folder of the revisions that build them."""

    name: str
    versions: Path
    tables: tuple[type[SQLModel], ...]

    @property
    def table_names(self) -> frozenset[str]:
        return frozenset(str(table.__tablename__) for table in self.tables)

    @property
    def version_table(self) -> str:
        return f"alembic_version_{self.name}"

    def includes(
        self, _object: Any, name: str | None, type_: str, _reflected: bool, _compare_to: Any
    ) -> bool:
        """Alembic's include_object: this schema's tables (and what is on them), no other."""
        return type_ != "table" or name in self.table_names


class DatabaseBehindCode(RuntimeError):
    """DATABASE_MIGRATIONS=check and the database is not at the revision the code expects."""


def alembic_config(
    schema: Schema,
    database_url: str | None = None,
    connection: Connection | None = None,
    command_options: Any = None,
) -> Config:
    """Alembic's configuration for `schema`: on `connection` if given (its caller holds the
    migration lock), else on a connection of its own to `database_url`."""
    config = Config(cmd_opts=command_options)
    config.set_main_option("script_location", str(ENVIRONMENT_DIRECTORY))
    config.set_main_option("version_locations", str(schema.versions))
    config.set_main_option("path_separator", "os")
    config.attributes.update(schema=schema, database_url=database_url, connection=connection)
    if importlib.util.find_spec("ruff") is not None:  # a development tool: not in the image
        # New revisions come out formatted like the rest of the code.
        hooks = "post_write_hooks"
        config.set_section_option(hooks, "hooks", "ruff")
        config.set_section_option(hooks, "ruff.type", "module")
        config.set_section_option(hooks, "ruff.module", "ruff")
        config.set_section_option(hooks, "ruff.options", "format REVISION_SCRIPT_FILENAME")
    return config


def prepare_database(
    engine: Engine,
    schema: Schema,
    migrations: MigrationMode,
    development: bool,
) -> None:
    """Bring the database to the head revision, or with `check` refuse to start unless it is.

    In development a database without any of the schema's tables is built by create_all (the
    embedded default, and the fastest start) and stamped at head, so that later revisions
    apply to it like to any other. Everywhere else, and always in production, the revisions
    themselves run. A database made by create_all before migrations existed is adopted by the
    first revision, which creates only the tables it lacks.

    A database at a revision this code does not know is newer than the code (a rollback of the
    code without a downgrade): the process starts on it, with a warning, and changes nothing.
    Revisions written to be tolerated by the code before them (docs/deployment.md) make that
    safe, and an incident's rollback should not be blocked on a downgrade.
    """
    with engine.connect() as connection, exclusive_transaction(connection, schema):
        config = alembic_config(schema, connection=connection)
        if unknown := unknown_revisions(connection, config):
            logger.warning(
                "the %s database is at revision %s, which this code does not know (newer "
                "code migrated it?): starting without migrating",
                schema.name,
                ", ".join(sorted(unknown)),
            )
        elif migrations == "check":
            ensure_at_head(connection, config)
        elif development and is_empty(connection, schema):
            tables = [SQLModel.metadata.tables[name] for name in schema.table_names]
            SQLModel.metadata.create_all(connection, tables=tables)
            command.stamp(config, "head")
        else:
            command.upgrade(config, "head")


@contextmanager
def exclusive_transaction(connection: Connection, schema: Schema) -> Iterator[None]:
    """One transaction for the whole migration, one migrator at a time per database.

    Replicas that start together queue on the lock and each finds the schema the first one
    left (PostgreSQL reads committed data per statement). DDL is transactional on both
    databases, so a failed migration leaves the schema as it was.
    """
    with connection.begin():
        lock_for_transaction(connection, f"migrations:{schema.name}")
        yield


def is_empty(connection: Connection, schema: Schema) -> bool:
    existing = set(inspect(connection).get_table_names())
    return not existing & (schema.table_names | {schema.version_table})


def current_revisions(connection: Connection, schema: Schema) -> tuple[str, ...]:
    context = MigrationContext.configure(connection, opts={"version_table": schema.version_table})
    return tuple(context.get_current_heads())


def unknown_revisions(connection: Connection, config: Config) -> set[str]:
    """The database's revisions that are not among this code's."""
    script = ScriptDirectory.from_config(config)
    unknown: set[str] = set()
    for revision in current_revisions(connection, config.attributes["schema"]):
        try:
            script.get_revision(revision)
        except CommandError:
            unknown.add(revision)
    return unknown


def ensure_at_head(connection: Connection, config: Config) -> None:
    schema: Schema = config.attributes["schema"]
    current = set(current_revisions(connection, schema))
    heads = set(ScriptDirectory.from_config(config).get_heads())
    if current != heads:
        raise DatabaseBehindCode(
            f"the {schema.name} database is at revision {sorted(current) or 'none'}, the code "
            f"expects {sorted(heads)}: apply the migrations (`db upgrade head`, see "
            "docs/deployment.md) or set DATABASE_MIGRATIONS=upgrade"
        )


def run_environment() -> None:
    """The body of common/alembic_env/env.py, run by every Alembic command."""
    from alembic import context

    schema: Schema = context.config.attributes["schema"]
    options: dict[str, Any] = {
        "target_metadata": SQLModel.metadata,
        "include_object": schema.includes,
        "version_table": schema.version_table,
        # Table-rebuilding "batch" operations: how SQLite alters a table; plain ALTERs elsewhere.
        "render_as_batch": True,
        "render_item": render_item,
    }
    database_url: str = context.config.attributes["database_url"]
    if context.is_offline_mode():  # `db upgrade head --sql`: print the SQL instead
        context.configure(url=database_url, literal_binds=True, **options)
        with context.begin_transaction():
            context.run_migrations()
        return
    connection: Connection | None = context.config.attributes["connection"]
    if connection is not None:
        context.configure(connection=connection, **options)
        context.run_migrations()
        return
    engine = create_database_engine(database_url)
    try:
        with engine.connect() as own, exclusive_transaction(own, schema):
            context.configure(connection=own, **options)
            context.run_migrations()
    finally:
        engine.dispose()


def existing_tables() -> set[str]:
    """For a revision: the tables its database has (none when it prints SQL, `db upgrade --sql`)."""
    from alembic import op

    if op.get_context().as_sql:
        return set()
    return set(inspect(op.get_bind()).get_table_names())


def render_item(type_: str, item: Any, _context: AutogenContext) -> str | Literal[False]:
    """Write SQLModel's column types as the SQLAlchemy types they stand for, so that revisions
    need only `sa` and do not change meaning if SQLModel's types do."""
    if type_ == "type" and isinstance(item, AutoString):
        return f"sa.String(length={item.length})" if item.length else "sa.String()"
    if type_ == "type" and isinstance(item, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def is_database_command(arguments: Sequence[str]) -> bool:
    """`python -m <module> db ...` (the module's own arguments, sys.argv[1:])."""
    return arguments[:1] == [DATABASE_COMMAND]


def run_database_command(
    module: str, schema: Schema, database_url: str, arguments: Sequence[str]
) -> None:
    """`python -m <module> db <alembic command>`: Alembic's own command line, configured for
    this schema and the process's DATABASE_URL (e.g. `db upgrade head`, `db downgrade -1`,
    `db current`, `db history`, `db revision --autogenerate -m "..."`)."""
    command_line = CommandLine(prog=f"python -m {module} {DATABASE_COMMAND}")
    options = command_line.parser.parse_args(list(arguments[1:]))
    if not hasattr(options, "cmd"):
        command_line.parser.error("too few arguments")
    # What Alembic's own alembic.ini would set up: its progress ("Running upgrade ...") on stderr.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s [%(name)s] %(message)s")
    logging.getLogger("alembic").setLevel(logging.INFO)
    command_line.run_cmd(alembic_config(schema, database_url, command_options=options), options)
