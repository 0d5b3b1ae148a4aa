"""Shared secrets (API keys, service tokens): how they are read from settings and which values
are refused outside development.

A variable holds one or more values separated by commas, for rotation: a server accepts every
value listed, a client sends the first. Rotating is then three deployments: add the new value
second everywhere, move it first (clients switch), drop the old one.
"""

import string
from collections.abc import Mapping

from pydantic import SecretStr

# Outside development a secret must be at least this long: 24 characters of a random token
# (`secrets.token_urlsafe(32)` gives 43) cannot be guessed; a word or a name can.
MIN_SECRET_LENGTH = 24
# Values that ship in examples and tutorials, and the words placeholders are made of.
WELL_KNOWN_SECRETS = frozenset(
    {"changeme", "change-me", "secret", "password", "token", "apikey", "api-key", "admin", "test"}
)
PLACEHOLDER_MARKERS = ("changeme", "change-me", "change_me", "replace-me", "example", "<", ">")
# Fewer distinct characters than this is a pattern ("aaaa...", "abab..."), not a random token.
MIN_DISTINCT_CHARACTERS = 10
GENERATE_HINT = "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"


def secret_values(secret: SecretStr | None) -> tuple[str, ...]:
    """The comma-separated values of a secret setting, blanks dropped; () when unset."""
    if secret is None:
        return ()
    return tuple(value.strip() for value in secret.get_secret_value().split(",") if value.strip())


def weakness(value: str) -> str | None:
    """Why a secret value must not be used outside development, or None. Never quotes it."""
    lowered = value.lower()
    if lowered in WELL_KNOWN_SECRETS or any(marker in lowered for marker in PLACEHOLDER_MARKERS):
        return "is a well-known default or a placeholder"
    if len(value) < MIN_SECRET_LENGTH:
        return f"is shorter than {MIN_SECRET_LENGTH} characters"
    if len(set(value)) < MIN_DISTINCT_CHARACTERS:
        return "is a pattern, not a random value"
    if not set(value) <= set(string.printable) - set(string.whitespace):
        return "contains whitespace or non-printable characters"
    return None


def refuse_weak_secrets(secrets: Mapping[str, SecretStr | None], *, required: bool) -> None:
    """Raise ValueError naming the environment variable of each missing (when `required`) or
    weak secret. For settings validators, outside development only."""
    problems = []
    for variable, secret in secrets.items():
        values = secret_values(secret)
        if not values and required:
            problems.append(f"{variable} is required outside development mode")
        problems += [
            f"{variable}: value #{position} {reason}"
            for position, value in enumerate(values, start=1)
            if (reason := weakness(value)) is not None
        ]
    if problems:
        raise ValueError("; ".join(problems) + f" ({GENERATE_HINT})")
