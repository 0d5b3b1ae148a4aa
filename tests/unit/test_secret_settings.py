"""Secrets come from settings: outside development, missing or weak ones are refused at startup
(common/secrets.py); in development anything goes, and nothing configured means open."""

from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from common.auth import Access
from common.payload_keys import new_key_entry
from common.secrets import GENERATE_HINT, secret_values
from orchestrator.config import CodecServerSettings, OrchestratorSettings
from services.enrollment.config import EnrollmentSettings
from tests.support.credentials import TEST_API_KEY, TEST_SERVICE_TOKEN

STRONG = "Zq3v9Lw2Xr8Tn5Bk1Hy7Pd4Fs6Mc0Ja"
WEAK = [
    "changeme",
    "secret",
    "password",
    "short-but-random-9f3k",  # < 24 characters
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",  # a pattern
    "change-me-to-a-long-random-value-please",  # a placeholder from an example file
    "<your-api-key-from-the-deployment-docs>",
]
PAYLOAD_KEYS = new_key_entry("prod-1")


def production_orchestrator(**values: str | None) -> OrchestratorSettings:
    secrets: dict[str, Any] = {"api_keys": TEST_API_KEY, "service_tokens": TEST_SERVICE_TOKEN}
    return OrchestratorSettings(
        environment="production", payload_keys=PAYLOAD_KEYS, **(secrets | values)
    )


def test_the_api_in_production_refuses_to_start_without_api_keys() -> None:
    with pytest.raises(ValidationError, match="API_KEYS is required"):
        production_orchestrator(api_keys=None)


def test_the_api_in_production_needs_no_service_tokens_it_only_reads_the_services() -> None:
    assert production_orchestrator(service_tokens=None).service_tokens is None


def test_a_service_in_production_refuses_to_start_without_service_tokens() -> None:
    with pytest.raises(ValidationError, match="SERVICE_TOKENS is required"):
        EnrollmentSettings(environment="production", service_tokens=None)


@pytest.mark.parametrize("weak", WEAK)
def test_production_refuses_well_known_short_or_patterned_secrets_without_quoting_them(
    weak: str,
) -> None:
    for build in (
        lambda: production_orchestrator(api_keys=weak),
        lambda: production_orchestrator(service_tokens=f"{STRONG},{weak}"),  # any one of them
        lambda: production_orchestrator(api_read_only_keys=weak),
        lambda: EnrollmentSettings(environment="production", service_tokens=weak),
        lambda: CodecServerSettings(
            environment="production", payload_keys=PAYLOAD_KEYS, codec_server_token=weak
        ),
    ):
        with pytest.raises(ValidationError) as refused:
            build()
        assert weak not in str(refused.value).replace(GENERATE_HINT, "")


@pytest.mark.parametrize("weak", WEAK)
def test_development_accepts_any_secret(weak: str) -> None:
    settings = OrchestratorSettings(api_keys=weak, service_tokens=weak)

    assert secret_values(settings.api_keys) == (weak,)
    assert EnrollmentSettings(service_tokens=weak).service_tokens == SecretStr(weak)


def test_production_accepts_strong_secrets_and_several_of_them_for_rotation() -> None:
    settings = production_orchestrator(api_keys=f"{STRONG}, {TEST_API_KEY}")

    assert settings.api_credentials().operators == (STRONG, TEST_API_KEY)
    assert settings.service_headers() == {"Authorization": f"Bearer {TEST_SERVICE_TOKEN}"}


def test_development_without_credentials_is_open_and_sends_none() -> None:
    settings = OrchestratorSettings(api_keys=None, service_tokens=None)

    assert not settings.api_credentials().configured
    assert settings.service_headers() == {}


def test_blank_entries_of_a_secret_list_are_ignored() -> None:
    assert secret_values(SecretStr(" one , ,two,")) == ("one", "two")
    assert secret_values(SecretStr("")) == ()


@pytest.mark.parametrize(
    ("method", "path", "api", "service"),
    [
        ("GET", "/healthz", Access.PUBLIC, Access.PUBLIC),
        ("GET", "/readyz", Access.PUBLIC, Access.PUBLIC),
        ("GET", "/openapi.json", Access.PUBLIC, Access.PUBLIC),
        ("GET", "/docs", Access.PUBLIC, Access.PUBLIC),
        ("GET", "/sagas", Access.READ, Access.PUBLIC),
        ("POST", "/students", Access.WRITE, Access.WRITE),
        ("GET", "/_faults", Access.READ, Access.READ),
        ("DELETE", "/_faults/1", Access.WRITE, Access.WRITE),
    ],
)
def test_what_each_request_needs(method: str, path: str, api: Access, service: Access) -> None:
    api_credentials = OrchestratorSettings(api_keys=TEST_API_KEY).api_credentials()
    service_credentials = EnrollmentSettings(service_tokens=TEST_SERVICE_TOKEN).credentials("e")

    assert api_credentials.required_access(method, path) is api
    assert service_credentials.required_access(method, path) is service
