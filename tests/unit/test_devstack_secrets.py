"""`make up` makes its development secrets once, keeps them with the data, and lets the
environment override them."""

import stat
from pathlib import Path

from devstack.secrets import SECRETS_FILE, development_secrets
from orchestrator.codec import new_key_entry, parse_keys


def test_secrets_are_generated_once_private_and_reused_on_the_next_start(tmp_path: Path) -> None:
    first = development_secrets(tmp_path / "data", {})
    second = development_secrets(tmp_path / "data", {})

    assert first == second
    assert parse_keys(first["PAYLOAD_KEYS"]).current_id == "dev-1"
    assert len(first["CODEC_SERVER_TOKEN"]) >= 24
    mode = (tmp_path / "data" / SECRETS_FILE).stat().st_mode
    assert stat.S_IMODE(mode) == 0o600


def test_two_data_dirs_get_different_keys(tmp_path: Path) -> None:
    one = development_secrets(tmp_path / "one", {})
    other = development_secrets(tmp_path / "other", {})

    assert one["PAYLOAD_KEYS"] != other["PAYLOAD_KEYS"]


def test_values_from_the_environment_win_over_the_file(tmp_path: Path) -> None:
    own_key = new_key_entry("mine")

    secrets = development_secrets(tmp_path, {"PAYLOAD_KEYS": own_key})

    assert secrets["PAYLOAD_KEYS"] == own_key
