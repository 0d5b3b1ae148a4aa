"""Each database's Alembic revisions, on SQLite and PostgreSQL: the head revision builds exactly
the models' tables, downgrades undo it, a production start migrates (replicas at once too), a
development start creates and stamps, databases made by create_all before migrations existed
are adopted, and `check` mode refuses a database behind the code."""

import multiprocessing
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Engine, Integer, MetaData, inspect, text
from sqlmodel import Session, SQLModel, select

from choreography.runtime import TABLES as CHOREOGRAPHY_TABLES
from common.database import create_database_engine, create_tables
from common.migrations import (
    DatabaseBehindCode,
    Schema,
    alembic_config,
    current_revisions,
    prepare_database,
)
from common.settings import MigrationMode
from orchestrator.api.app import API_SCHEMA
from services.billing.config import BillingSettings
from services.billing.main import SCHEMA as BILLING_SCHEMA
from services.billing.main import create_app as create_billing
from services.billing.models import Charge
from services.enrollment.config import EnrollmentSettings
from services.enrollment.main import SCHEMA as ENROLLMENT_SCHEMA
from services.enrollment.main import create_app as create_enrollment
from services.enrollment.models import TABLES as ENROLLMENT_TABLES
from services.enrollment.models import Course
from tests.support.credentials import TEST_SERVICE_TOKEN
from tests.support.servers import serve_in_thread

REPOSITORY = Path(__file__).resolve().parents[2]
SCHEMAS = {schema.name: schema for schema in (ENROLLMENT_SCHEMA, BILLING_SCHEMA, API_SCHEMA)}
REPLICAS = 4


@pytest.fixture(params=sorted(SCHEMAS))
def schema(request: pytest.FixtureRequest) -> Schema:
    return SCHEMAS[request.param]


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_database_engine(database_url)
    yield engine
    engine.dispose()


def differences(engine: Engine, schema: Schema, metadata: MetaData = SQLModel.metadata) -> Any:
    """What `db revision --autogenerate` would put in a new revision: empty when the database
    has exactly the schema's tables, columns, types, indexes and constraints."""
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"include_object": schema.includes, "version_table": schema.version_table},
        )
        return compare_metadata(context, metadata)


def revisions(engine: Engine, schema: Schema) -> tuple[str, ...]:
    with engine.connect() as connection:
        return current_revisions(connection, schema)


def head(schema: Schema) -> tuple[str, ...]:
    return tuple(ScriptDirectory.from_config(alembic_config(schema)).get_heads())


def tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def cli_config(engine: Engine, schema: Schema) -> Config:
    """The configuration `python -m <module> db ...` runs Alembic's commands with."""
    return alembic_config(schema, engine.url.render_as_string(hide_password=False))


def test_the_head_revision_builds_exactly_the_tables_of_the_models(
    engine: Engine, schema: Schema
) -> None:
    prepare_database(engine, schema, "upgrade", development=False)

    assert differences(engine, schema) == []
    assert revisions(engine, schema) == head(schema)
    assert tables(engine) == schema.table_names | {schema.version_table}


def test_a_column_missing_from_the_revisions_is_a_difference(
    engine: Engine, schema: Schema
) -> None:
    """What the test above would see if a model gained a column and no revision added it."""
    prepare_database(engine, schema, "upgrade", development=False)
    models = MetaData()
    for name in schema.table_names:
        SQLModel.metadata.tables[name].to_metadata(models)
    table = sorted(schema.table_names)[0]
    models.tables[table].append_column(Column("added_later", Integer, nullable=True))

    found = differences(engine, schema, models)

    assert [(kind, column.table.name, column.name) for kind, _, _, column in found] == [
        ("add_column", table, "added_later")
    ]


def test_downgrading_to_base_removes_every_table_and_upgrading_rebuilds_them(
    engine: Engine, schema: Schema
) -> None:
    command.upgrade(cli_config(engine, schema), "head")
    command.downgrade(cli_config(engine, schema), "base")
    assert tables(engine) & schema.table_names == set()
    assert revisions(engine, schema) == ()

    command.upgrade(cli_config(engine, schema), "head")
    assert differences(engine, schema) == []
    assert revisions(engine, schema) == head(schema)


def test_a_development_start_on_an_empty_database_creates_the_tables_and_stamps_them_at_head(
    engine: Engine, schema: Schema
) -> None:
    prepare_database(engine, schema, "upgrade", development=True)

    assert differences(engine, schema) == []
    assert revisions(engine, schema) == head(schema)


def start_replica(database_url: str, everyone_ready: Any) -> None:
    """What a replica of the enrollment service does to its database at start in production."""
    engine = create_database_engine(database_url)
    everyone_ready.wait()
    prepare_database(engine, ENROLLMENT_SCHEMA, "upgrade", development=False)
    engine.dispose()


def test_replicas_starting_at_once_on_an_empty_database_all_start(
    engine: Engine, database_url: str
) -> None:
    """Processes, as replicas are (each its own Alembic), released together by a barrier:
    PostgreSQL serialises them on an advisory lock, SQLite on its write lock. Spawned, not
    forked: a fork of this multi-threaded test process (servers, Temporal's runtime) can
    inherit a lock held by another thread and die or hang for reasons of its own."""
    processes = multiprocessing.get_context("spawn")
    everyone_ready = processes.Barrier(REPLICAS)
    replicas = [
        processes.Process(target=start_replica, args=(database_url, everyone_ready))
        for _ in range(REPLICAS)
    ]
    for replica in replicas:
        replica.start()
    for replica in replicas:
        replica.join(timeout=120)

    assert [replica.exitcode for replica in replicas] == [0] * REPLICAS
    assert differences(engine, ENROLLMENT_SCHEMA) == []
    with engine.connect() as connection:
        versions = connection.execute(text(f"SELECT * FROM {ENROLLMENT_SCHEMA.version_table}"))
        assert versions.scalars().all() == list(head(ENROLLMENT_SCHEMA))


@pytest.mark.parametrize("development", [True, False], ids=["development", "production"])
def test_a_database_made_by_create_all_before_migrations_is_adopted_with_its_data(
    engine: Engine, development: bool
) -> None:
    """Its service ran without a broker: it has the service's tables but no outbox or inbox."""
    create_tables(engine, ENROLLMENT_TABLES)
    with Session(engine) as session:
        session.add(
            Course(course_id="OLD1", title="Kept", capacity=3, tuition_cents=1, currency="EUR")
        )
        session.commit()

    prepare_database(engine, ENROLLMENT_SCHEMA, "upgrade", development=development)

    assert differences(engine, ENROLLMENT_SCHEMA) == []
    assert revisions(engine, ENROLLMENT_SCHEMA) == head(ENROLLMENT_SCHEMA)
    with Session(engine) as session:
        assert [course.title for course in session.exec(select(Course))] == ["Kept"]


@pytest.mark.parametrize("with_broker", [True, False], ids=["with-broker", "without-broker"])
def test_every_database_made_by_create_all_before_migrations_is_adopted(
    engine: Engine, schema: Schema, with_broker: bool
) -> None:
    """Without a broker a process made no outbox or inbox; the API made no database at all."""
    made = [table for table in schema.tables if with_broker or table not in CHOREOGRAPHY_TABLES]
    create_tables(engine, made)

    prepare_database(engine, schema, "upgrade", development=True)

    assert differences(engine, schema) == []
    assert revisions(engine, schema) == head(schema)


def test_charges_refunded_before_partial_refunds_existed_get_the_refund_of_their_amount(
    engine: Engine,
) -> None:
    """Billing's 0002: a REFUNDED charge recorded its refund on the charge row alone."""
    config = cli_config(engine, BILLING_SCHEMA)
    command.upgrade(config, "0001")
    insert = text(
        "INSERT INTO charge (charge_id, student_id, enrollment_id, amount_cents, currency, "
        "status, idempotency_key, request_fingerprint, created_at, refunded_at) VALUES "
        "(:charge_id, 's', 'e', :amount, 'USD', :status, :charge_id, 'f', :at, :refunded_at)"
    )
    with engine.begin() as connection:
        at = "2026-11-01 10:00:00+00:00"
        connection.execute(
            insert,
            {
                "charge_id": "kept",
                "amount": 500,
                "status": "CAPTURED",
                "at": at,
                "refunded_at": None,
            },
        )
        connection.execute(
            insert,
            {
                "charge_id": "given-back",
                "amount": 700,
                "status": "REFUNDED",
                "at": at,
                "refunded_at": at,
            },
        )

    command.upgrade(config, "head")

    with Session(engine) as session:
        charges = {charge.charge_id: charge for charge in session.exec(select(Charge))}
        assert charges["kept"].refunded_cents == 0
        assert charges["given-back"].refunded_cents == 700
        [refund] = charges["given-back"].refunds
        assert (refund.amount_cents, refund.status, refund.idempotency_key) == (
            700,
            "REFUNDED",
            None,
        )
    assert differences(engine, BILLING_SCHEMA) == []


def test_check_mode_refuses_a_database_behind_the_code_and_accepts_one_at_head(
    engine: Engine,
) -> None:
    with pytest.raises(DatabaseBehindCode, match="apply the migrations"):
        prepare_database(engine, BILLING_SCHEMA, "check", development=False)
    assert tables(engine) == set()

    command.upgrade(cli_config(engine, BILLING_SCHEMA), "head")
    prepare_database(engine, BILLING_SCHEMA, "check", development=False)


@pytest.mark.parametrize("migrations", ["upgrade", "check"])
def test_code_older_than_its_database_starts_on_it_and_changes_nothing(
    engine: Engine, migrations: MigrationMode, caplog: pytest.LogCaptureFixture
) -> None:
    """A rollback of the code without a downgrade: the database is at a revision it lacks."""
    command.upgrade(cli_config(engine, BILLING_SCHEMA), "head")
    newer = "f00dfeed"
    with engine.begin() as connection:
        connection.execute(
            text(f"UPDATE {BILLING_SCHEMA.version_table} SET version_num = '{newer}'")
        )

    prepare_database(engine, BILLING_SCHEMA, migrations, development=False)

    assert revisions(engine, BILLING_SCHEMA) == (newer,)
    assert f"at revision {newer}, which this code does not know" in caplog.text


def test_services_started_in_production_mode_on_an_empty_database_migrate_and_serve(
    database_url: str,
) -> None:
    """Both services on one database (a DATABASE_URL in .env reaches both under `make up`):
    each keeps its own revision and sees only its own tables."""
    enrollment = EnrollmentSettings(
        environment="production", database_url=database_url, service_tokens=TEST_SERVICE_TOKEN
    )
    billing = BillingSettings(
        environment="production", database_url=database_url, service_tokens=TEST_SERVICE_TOKEN
    )
    with (
        serve_in_thread(create_enrollment(enrollment)) as enrollment_url,
        serve_in_thread(create_billing(billing)) as billing_url,
    ):
        courses = httpx.get(f"{enrollment_url}/courses", timeout=30)
        billing_ready = httpx.get(f"{billing_url}/readyz", timeout=30)

    assert courses.status_code == 200, courses.text
    assert courses.json(), "the seeded catalogue is served from the migrated tables"
    assert billing_ready.status_code == 200, billing_ready.text
    engine = create_database_engine(database_url)
    try:
        for schema in (ENROLLMENT_SCHEMA, BILLING_SCHEMA):
            assert revisions(engine, schema) == head(schema)
            assert differences(engine, schema) == []
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("module", "schema_name"),
    [
        ("services.enrollment", "enrollment"),
        ("services.billing", "billing"),
        ("orchestrator", "api"),
    ],
)
def test_the_database_command_line_migrates_the_database_of_its_process(
    module: str, schema_name: str, tmp_path: Path
) -> None:
    upgraded = subprocess.run(
        [sys.executable, "-m", module, "db", "upgrade", "head"],
        cwd=REPOSITORY,
        env={"PATH": "/usr/bin:/bin", "DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert upgraded.returncode == 0, upgraded.stderr
    assert "Running upgrade  -> 0001" in upgraded.stderr
    schema = SCHEMAS[schema_name]
    engine = create_database_engine(f"sqlite:///{tmp_path / schema_name}.db")
    try:
        assert revisions(engine, schema) == head(schema)
    finally:
        engine.dispose()
