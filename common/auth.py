"""Bearer authentication, the same in every HTTP process: `Authorization: Bearer <secret>`.

An ASGI middleware, installed last by each app factory so that it is outermost: a request
without a valid credential is answered 401 before anything else looks at it (the body size
limit, fault injection, validation), and gets no hint of what it would have met.

What needs a credential, per process (`Credentials`):
- the health routes (/healthz, /readyz), the metrics (/metrics) and the API description (/docs,
  /redoc, /openapi.json) never do: orchestrators probe health and Prometheus scrapes without
  secrets (metrics carry counts by route template, never ids: keep them off the public edge by
  network policy, docs/deployment.md), and the spec is no secret (it is in this repository);
  /docs is where a user pastes a key (Authorize button);
- reads (GET, HEAD) need none where `public_reads` is set (the services: see their main.py),
  except the fault-injection routes, which change how the service behaves;
- everything else needs one. A reader credential (read-only API keys) may only read: 403 on
  anything else. A missing or unknown credential is 401 with `WWW-Authenticate: Bearer`.

Secrets are compared in constant time over their SHA-256 digests, against every configured
value (no early exit), so neither the length nor the position of a match leaks. With no
credential configured at all (development only: the settings refuse it elsewhere) every request
is let in, and a warning says so at startup.
"""

import hashlib
import hmac
import logging
from dataclasses import dataclass
from enum import Enum
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from common.faults import FAULTS_PATH
from common.openapi import OPERATION_KEYS, PROBLEM_SCHEMA
from common.problems import PROBLEM_JSON, ProblemSpec, problem_response

log = logging.getLogger(__name__)

PUBLIC_PATHS = frozenset(
    {"/healthz", "/readyz", "/metrics", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}
)
READ_METHODS = frozenset({"GET", "HEAD"})
SECURITY_SCHEME = "bearerAuth"
UNAUTHENTICATED = ProblemSpec(401, "unauthenticated", "Unauthorized")
FORBIDDEN = ProblemSpec(403, "forbidden", "Forbidden")


class Access(Enum):
    PUBLIC = "public"
    READ = "read"
    WRITE = "write"


@dataclass(frozen=True)
class Credentials:
    """Who may call one process. `kind` and `variable` name the credential in answers and logs
    ("API key", API_KEYS); `operators` may do anything, `readers` only read."""

    kind: str
    variable: str
    realm: str
    operators: tuple[str, ...]
    readers: tuple[str, ...] = ()
    public_reads: bool = False

    @property
    def configured(self) -> bool:
        return bool(self.operators or self.readers)

    def required_access(self, method: str, path: str) -> Access:
        if path in PUBLIC_PATHS:
            return Access.PUBLIC
        if method not in READ_METHODS:
            return Access.WRITE
        faults = path == FAULTS_PATH or path.startswith(FAULTS_PATH + "/")
        return Access.PUBLIC if self.public_reads and not faults else Access.READ


def bearer_headers(secret: str | None) -> dict[str, str]:
    """The header a client sends with `secret`; none without one (an open development stack)."""
    return {"Authorization": f"Bearer {secret}"} if secret else {}


def install_authentication(app: FastAPI, credentials: Credentials) -> None:
    """Call last in the app factory (the middleware must be outermost)."""
    if not credentials.configured:
        log.warning(
            "!!! %s: no %s configured (%s): every request is let in. Development mode only; "
            "`make up` configures them.",
            app.title,
            credentials.kind,
            credentials.variable,
        )
        return
    app.add_middleware(BearerAuth, credentials=credentials)  # type: ignore[arg-type]
    build = app.openapi

    def openapi() -> dict[str, Any]:
        schema = build()
        if SECURITY_SCHEME not in schema.get("components", {}).get("securitySchemes", {}):
            document_bearer_auth(schema, credentials)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


class BearerAuth:
    def __init__(self, app: ASGIApp, credentials: Credentials) -> None:
        self._app = app
        self._credentials = credentials
        self._operators = [_digest(secret) for secret in credentials.operators]
        self._readers = [_digest(secret) for secret in credentials.readers]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        access = self._credentials.required_access(scope["method"], scope["path"])
        if access is Access.PUBLIC:
            await self._app(scope, receive, send)
            return
        refusal = self._refusal(_bearer_token(scope), access)
        if refusal is None:
            await self._app(scope, receive, send)
        else:
            await refusal(scope, receive, send)

    def _refusal(self, token: str | None, access: Access) -> ASGIApp | None:
        kind, realm = self._credentials.kind, self._credentials.realm
        if token is None:
            return problem_response(
                UNAUTHENTICATED,
                f"Send the {kind} as 'Authorization: Bearer <{kind.replace(' ', '-')}>'.",
                headers={"WWW-Authenticate": f'Bearer realm="{realm}"'},
            )
        digest = _digest(token)
        operator = _matches(digest, self._operators)
        reader = _matches(digest, self._readers)
        if not (operator or reader):
            return problem_response(
                UNAUTHENTICATED,
                f"This {kind} is not valid here (mistyped, or revoked by a rotation).",
                headers={"WWW-Authenticate": f'Bearer realm="{realm}", error="invalid_token"'},
            )
        if access is Access.WRITE and not operator:
            return problem_response(
                FORBIDDEN,
                f"This {kind} may only read (GET); this request needs one that may operate.",
                headers={"WWW-Authenticate": f'Bearer realm="{realm}", error="insufficient_scope"'},
            )
        return None


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def _matches(digest: bytes, known: list[bytes]) -> bool:
    # A list, not a generator: every value is compared, whichever matches.
    return any([hmac.compare_digest(digest, candidate) for candidate in known])


def _bearer_token(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            token = token.strip()
            return token if scheme.lower() == "bearer" and token else None
    return None


def document_bearer_auth(schema: dict[str, Any], credentials: Credentials) -> None:
    """Declare the bearer scheme (/docs then shows an Authorize button), and on each operation
    that needs a credential, that it does and what it answers without one."""
    schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
    schemes[SECURITY_SCHEME] = {
        "type": "http",
        "scheme": "bearer",
        "description": f"The {credentials.kind} ({credentials.variable} on the server).",
    }
    problem = {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}}
    challenge = {"WWW-Authenticate": {"schema": {"type": "string"}}}
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if method not in OPERATION_KEYS:
                continue
            access = credentials.required_access(method.upper(), path)
            if access is Access.PUBLIC:
                continue
            operation["security"] = [{SECURITY_SCHEME: []}]
            responses = operation.setdefault("responses", {})
            responses["401"] = {
                "description": f"No valid {credentials.kind}",
                "headers": challenge,
                "content": problem,
            }
            if access is Access.WRITE and not credentials.public_reads:
                responses["403"] = {
                    "description": f"A read-only {credentials.kind}",
                    "content": problem,
                }
