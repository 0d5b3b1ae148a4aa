"""Both services' OpenAPI specs hold under fuzzing: no 5xx, every answer documented (status,
content type, headers, body schema), invalid input refused. See tests/support/fuzzing.py.

On PostgreSQL when TEST_POSTGRES_URL is set (CI), the production database and the stricter one
(it refuses NUL characters that SQLite stores), else on SQLite: once, to keep the run short."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi import FastAPI

from common.auth import bearer_headers
from orchestrator.codec_server import create_app as create_codec_server
from orchestrator.config import CodecServerSettings
from services.billing.config import BillingSettings
from services.billing.main import create_app as create_billing
from services.enrollment.config import EnrollmentSettings
from services.enrollment.main import create_app as create_enrollment
from tests.support.credentials import SERVICE_HEADERS, TEST_SERVICE_TOKEN
from tests.support.databases import fresh_postgres_database, postgres_admin_url, sqlite_url
from tests.support.fuzzing import fuzz
from tests.support.servers import serve_in_thread
from tests.support.temporal import TEST_PAYLOAD_KEYS


@contextmanager
def a_database(tmp_path: Path) -> Iterator[str]:
    admin_url = postgres_admin_url()
    if admin_url is None:
        yield sqlite_url(tmp_path, "service")
        return
    with fresh_postgres_database(admin_url) as url:
        yield url


def service_app(service: str, database_url: str) -> FastAPI:
    if service == "enrollment":
        return create_enrollment(
            EnrollmentSettings(database_url=database_url, service_tokens=TEST_SERVICE_TOKEN)
        )
    return create_billing(
        BillingSettings(database_url=database_url, service_tokens=TEST_SERVICE_TOKEN)
    )


@pytest.mark.parametrize("service", ["enrollment", "billing"])
def test_the_service_answers_every_fuzzed_request_as_its_spec_says(
    service: str, tmp_path: Path
) -> None:
    with (
        a_database(tmp_path) as database_url,
        serve_in_thread(service_app(service, database_url)) as url,
    ):
        run = fuzz(url, headers=SERVICE_HEADERS)

    print(run.report())  # the case counts recorded in docs/reliability.md
    assert run.exit_code == 0, run.report()
    tested, total = run.operations_tested
    assert tested == total > 0
    assert run.cases > 0


def test_the_codec_server_answers_every_fuzzed_request_as_its_spec_says() -> None:
    token = "codec-token-for-fuzzing-0123456789"
    settings = CodecServerSettings(codec_server_token=token, payload_keys=TEST_PAYLOAD_KEYS)
    with serve_in_thread(create_codec_server(settings)) as url:
        run = fuzz(url, headers=bearer_headers(token))

    print(run.report())
    assert run.exit_code == 0, run.report()
    tested, total = run.operations_tested
    assert tested == total > 0
    assert run.cases > 0
