"""How the orchestrator connects to a Temporal cluster other than the dev server: Temporal Cloud
with an API key or mTLS, or a self-hosted cluster with a private CA."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from orchestrator.config import OrchestratorSettings
from orchestrator.temporal import tls_config


def test_the_dev_server_is_reached_without_tls() -> None:
    assert tls_config(OrchestratorSettings()) is None


def test_an_api_key_alone_leaves_tls_to_the_sdk_which_then_uses_the_system_cas() -> None:
    settings = OrchestratorSettings(temporal_api_key="key")

    assert tls_config(settings) is None
    assert settings.temporal_api_key is not None


def test_mtls_sends_the_client_certificate_and_key(tmp_path: Path) -> None:
    (tmp_path / "client.pem").write_bytes(b"CERT")
    (tmp_path / "client.key").write_bytes(b"KEY")
    settings = OrchestratorSettings(
        temporal_tls_cert=tmp_path / "client.pem", temporal_tls_key=tmp_path / "client.key"
    )

    config = tls_config(settings)

    assert config is not None
    assert (config.client_cert, config.client_private_key) == (b"CERT", b"KEY")
    assert config.server_root_ca_cert is None


def test_a_private_ca_is_trusted_when_configured(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_bytes(b"CA")

    config = tls_config(OrchestratorSettings(temporal_tls_ca=tmp_path / "ca.pem"))

    assert config is not None
    assert config.server_root_ca_cert == b"CA"
    assert config.client_cert is None


def test_a_client_certificate_without_its_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="go together"):
        OrchestratorSettings(temporal_tls_cert=tmp_path / "client.pem")
