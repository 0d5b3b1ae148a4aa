"""HTTP adapter of the billing service: parse, call a use case, shape the answer."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from common.deps import DatabaseDep
from common.idempotency import IdempotencyKeyReused
from common.problems import ProblemMap, ProblemSpec, problem_responses
from common.requests import (
    IDEMPOTENCY_KEY_MAX_LENGTH,
    WITHOUT_NUL,
    IdempotencyKey,
    JsonBody,
    request_fingerprint,
)
from services.billing import service
from services.billing.domain import (
    CardDeclined,
    ChargeNotFound,
    ChargeRevoked,
)
from services.billing.models import Charge, ChargeCreate, ChargePublic

# The one place where billing's refusals become HTTP statuses and problem types.
PROBLEMS: ProblemMap = {
    ChargeNotFound: ProblemSpec(404, "charge-not-found", "Charge not found"),
    CardDeclined: ProblemSpec(402, "card-declined", "Card declined"),
    ChargeRevoked: ProblemSpec(409, "charge-revoked", "Charge revoked"),
    IdempotencyKeyReused: ProblemSpec(422, "idempotency-key-reused", "Idempotency key reused"),
}

charges = APIRouter(prefix="/charges", tags=["charges"])


def _public(charge: Charge) -> ChargePublic:
    return ChargePublic.model_validate(charge.model_dump())


@charges.post(
    "",
    status_code=status.HTTP_201_CREATED,
    dependencies=[JsonBody],
    responses=problem_responses(400, 402, 409, 415, 422),
)
async def create_charge(
    body: ChargeCreate, idempotency_key: IdempotencyKey, database: DatabaseDep, response: Response
) -> ChargePublic:
    """Charge a card (test tokens: tok_visa approves): CAPTURED, or 402 if declined."""
    charge, created = await database.run(
        service.create_charge, body, idempotency_key, request_fingerprint(body)
    )
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return _public(charge)


@charges.get("")
async def list_charges(
    database: DatabaseDep,
    student_id: Annotated[str | None, Query(max_length=100)] = None,
    idempotency_key_prefix: Annotated[
        str | None, Query(max_length=IDEMPOTENCY_KEY_MAX_LENGTH, pattern=WITHOUT_NUL)
    ] = None,
) -> list[ChargePublic]:
    """Charges, optionally of one student or with idempotency keys starting with a prefix."""
    found = await database.run(service.list_charges, student_id, idempotency_key_prefix)
    return [_public(charge) for charge in found]


@charges.get("/{charge_id}", responses=problem_responses(404))
async def get_charge(charge_id: str, database: DatabaseDep) -> ChargePublic:
    """One charge."""
    return _public(await database.run(service.get_charge, charge_id))


@charges.post("/{charge_id}/refund", responses=problem_responses(404))
async def refund_charge(charge_id: str, database: DatabaseDep) -> ChargePublic:
    """Refund a charge exactly once; refunding it again changes nothing (idempotent)."""
    return _public(await database.run(service.refund_charge, charge_id))


@charges.post(
    "/by-key/{idempotency_key}/refund",
    responses={204: {"description": "No charge with this key; the key is revoked"}},
)
async def refund_by_idempotency_key(
    idempotency_key: Annotated[str, Path(max_length=IDEMPOTENCY_KEY_MAX_LENGTH)],
    database: DatabaseDep,
    response: Response,
) -> ChargePublic | None:
    """Refund the charge made with this key, or revoke the key if none exists yet (204):
    the compensation for a charge whose answer was lost."""
    charge = await database.run(service.refund_by_idempotency_key, idempotency_key)
    if charge is None:
        response.status_code = status.HTTP_204_NO_CONTENT
        return None
    return _public(charge)
