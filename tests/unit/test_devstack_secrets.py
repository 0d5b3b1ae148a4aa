"""`make up` keeps its development secrets in one git-ignored file (the repository's .env),
makes each once, never replaces one, and never makes a new key for existing histories."""

import stat
from pathlib import Path

import pytest
from dotenv import dotenv_values

from common.payload_keys import new_key_entry, parse_keys
from devstack.secrets import LEGACY_FILE, DevelopmentSecretsError, development_secrets


def test_secrets_are_generated_once_private_and_reused_on_the_next_start(tmp_path: Path) -> None:
    first = development_secrets(tmp_path / ".env", tmp_path / "data", {})
    second = development_secrets(tmp_path / ".env", tmp_path / "data", {})

    assert first == second
    assert parse_keys(first["PAYLOAD_KEYS"]).current_id == "dev-1"
    # The events' personal data under a key of its own, as a deployment may rotate them apart.
    assert parse_keys(first["EVENT_PAYLOAD_KEYS"]).current_id == "dev-events-1"
    assert first["EVENT_PAYLOAD_KEYS"] != first["PAYLOAD_KEYS"]
    for name in ("CODEC_SERVER_TOKEN", "API_KEYS", "SERVICE_TOKENS"):
        assert len(first[name]) >= 24, name
    assert first["SAGA_API_KEY"] == first["API_KEYS"]
    assert dotenv_values(tmp_path / ".env") == first
    assert stat.S_IMODE((tmp_path / ".env").stat().st_mode) == 0o600


def test_two_stacks_get_different_secrets(tmp_path: Path) -> None:
    one = development_secrets(tmp_path / "one.env", tmp_path / "one", {})
    other = development_secrets(tmp_path / "other.env", tmp_path / "other", {})

    assert all(one[name] != other[name] for name in one)


def test_values_from_the_environment_win_over_the_file(tmp_path: Path) -> None:
    own_key = new_key_entry("mine")

    secrets = development_secrets(tmp_path / ".env", tmp_path, {"PAYLOAD_KEYS": own_key})

    assert secrets["PAYLOAD_KEYS"] == own_key
    assert "PAYLOAD_KEYS" not in dotenv_values(tmp_path / ".env")


def test_what_the_file_already_holds_is_kept_and_only_missing_secrets_are_added(
    tmp_path: Path,
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("DATABASE_URL=sqlite:///mine.db\nAPI_KEYS=my-own-key-of-some-good-length")

    secrets = development_secrets(env_file, tmp_path / "data", {})

    assert secrets["API_KEYS"] == "my-own-key-of-some-good-length"
    assert secrets["SAGA_API_KEY"] == "my-own-key-of-some-good-length"
    assert dotenv_values(env_file)["DATABASE_URL"] == "sqlite:///mine.db"


def test_the_key_of_an_earlier_data_dir_secrets_file_is_carried_over(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "temporal.db").touch()
    earlier = new_key_entry("dev-1")
    (data_dir / LEGACY_FILE).write_text(f"PAYLOAD_KEYS={earlier}\nCODEC_SERVER_TOKEN=t")

    secrets = development_secrets(tmp_path / ".env", data_dir, {})

    assert secrets["PAYLOAD_KEYS"] == earlier
    assert dotenv_values(tmp_path / ".env")["PAYLOAD_KEYS"] == earlier


def test_no_new_key_is_made_for_histories_whose_key_is_missing(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "temporal.db").touch()

    with pytest.raises(DevelopmentSecretsError, match="PAYLOAD_KEYS"):
        development_secrets(tmp_path / ".env", data_dir, {})

    assert not (tmp_path / ".env").exists()


def test_a_stack_from_before_event_sealing_gets_an_event_key_and_keeps_its_other_secrets(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    env_file = tmp_path / ".env"
    earlier = development_secrets(env_file, data_dir, {})
    data_dir.mkdir()
    (data_dir / "temporal.db").touch()  # histories sealed with its PAYLOAD_KEYS
    env_file.write_text(
        "".join(f"{k}={v}\n" for k, v in earlier.items() if k != "EVENT_PAYLOAD_KEYS")
    )

    later = development_secrets(env_file, data_dir, {})

    assert {k: v for k, v in later.items() if k != "EVENT_PAYLOAD_KEYS"} == {
        k: v for k, v in earlier.items() if k != "EVENT_PAYLOAD_KEYS"
    }
    assert parse_keys(later["EVENT_PAYLOAD_KEYS"]).current_id == "dev-events-1"
    assert dotenv_values(env_file)["EVENT_PAYLOAD_KEYS"] == later["EVENT_PAYLOAD_KEYS"]
