"""HTTP adapter of the billing service: parse, call a use case, shape the answer."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from common.deps import DatabaseDep
from common.idempotency import IdempotencyKeyReused
from common.problems import ProblemMap, ProblemSpec, problem_responses
from common.requests import (
    WITHOUT_NUL,
    IdempotencyKey,
    JsonBody,
    KeyInPath,
    KeyPrefixFilter,
    StudentFilter,
    answer_replay,
    request_fingerprint,
)
from services.billing import service
from services.billing.domain import (
    CardDeclined,
    ChargeNotFound,
    ChargeRevoked,
    RefundExceedsCharge,
    RefundNotReversible,
    RefundRevoked,
)
from services.billing.models import (
    CHARGE_ID_MAX_LENGTH,
    Charge,
    ChargeCreate,
    ChargePublic,
    Refund,
    RefundCreate,
    RefundPublic,
)

# The one place where billing's refusals become HTTP statuses and problem types.
PROBLEMS: ProblemMap = {
    ChargeNotFound: ProblemSpec(404, "charge-not-found", "Charge not found"),
    CardDeclined: ProblemSpec(402, "card-declined", "Card declined"),
    ChargeRevoked: ProblemSpec(409, "charge-revoked", "Charge revoked"),
    RefundExceedsCharge: ProblemSpec(409, "refund-exceeds-charge", "Refund exceeds the charge"),
    RefundRevoked: ProblemSpec(409, "refund-revoked", "Refund revoked"),
    RefundNotReversible: ProblemSpec(409, "refund-not-reversible", "Refund cannot be reversed"),
    IdempotencyKeyReused: ProblemSpec(422, "idempotency-key-reused", "Idempotency key reused"),
}

# Ids in paths and queries are bounded like the columns they are looked up in (422, not a 500).
ChargeId = Annotated[str, Path(max_length=CHARGE_ID_MAX_LENGTH, pattern=WITHOUT_NUL)]
EnrollmentFilter = Annotated[str | None, Query(max_length=36, pattern=WITHOUT_NUL)]

charges = APIRouter(prefix="/charges", tags=["charges"])
refunds = APIRouter(prefix="/refunds", tags=["refunds"])


def _public(charge: Charge) -> ChargePublic:
    return ChargePublic.model_validate(
        {
            **charge.model_dump(),
            "refunded_cents": charge.refunded_cents,
            "refunds": [_refund_public(refund) for refund in charge.refunds],
        }
    )


def _refund_public(refund: Refund) -> RefundPublic:
    return RefundPublic.model_validate(refund.model_dump())


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
    answer_replay(response, created)
    return _public(charge)


@charges.get("")
async def list_charges(
    database: DatabaseDep,
    student_id: StudentFilter = None,
    enrollment_id: EnrollmentFilter = None,
    idempotency_key_prefix: KeyPrefixFilter = None,
) -> list[ChargePublic]:
    """Charges, optionally of one student, of one enrollment, or with idempotency keys starting
    with a prefix."""
    found = await database.run(
        service.list_charges, student_id, idempotency_key_prefix, enrollment_id
    )
    return [_public(charge) for charge in found]


@charges.get("/{charge_id}", responses=problem_responses(404))
async def get_charge(charge_id: ChargeId, database: DatabaseDep) -> ChargePublic:
    """One charge, with its refunds."""
    return _public(await database.run(service.get_charge, charge_id))


@charges.post("/{charge_id}/refund", responses=problem_responses(404))
async def refund_charge(charge_id: ChargeId, database: DatabaseDep) -> ChargePublic:
    """Refund what is left of a charge and close it (REFUNDED) exactly once; refunding it
    again changes nothing (idempotent)."""
    return _public(await database.run(service.refund_charge, charge_id))


@charges.post(
    "/by-key/{idempotency_key}/refund",
    responses={204: {"description": "No charge with this key; the key is revoked"}},
)
async def refund_by_idempotency_key(
    idempotency_key: KeyInPath, database: DatabaseDep, response: Response
) -> ChargePublic | None:
    """Refund the charge made with this key, or revoke the key if none exists yet (204):
    the compensation for a charge whose answer was lost."""
    charge = await database.run(service.refund_by_idempotency_key, idempotency_key)
    if charge is None:
        response.status_code = status.HTTP_204_NO_CONTENT
        return None
    return _public(charge)


@charges.post(
    "/{charge_id}/refunds",
    status_code=status.HTTP_201_CREATED,
    dependencies=[JsonBody],
    responses=problem_responses(400, 404, 409, 415, 422),
)
async def refund_part(
    charge_id: ChargeId,
    body: RefundCreate,
    idempotency_key: IdempotencyKey,
    database: DatabaseDep,
    response: Response,
) -> RefundPublic:
    """Refund part of a charge; 409 if it would refund more than the charge has left."""
    refund, created = await database.run(
        service.refund_part, charge_id, body, idempotency_key, request_fingerprint(body)
    )
    answer_replay(response, created)
    return _refund_public(refund)


@refunds.post(
    "/by-key/{idempotency_key}/reverse",
    responses={
        204: {"description": "No refund with this key; the key is revoked"},
        **problem_responses(409),
    },
)
async def reverse_refund_by_idempotency_key(
    idempotency_key: KeyInPath, database: DatabaseDep, response: Response
) -> RefundPublic | None:
    """Take the money of the refund made with this key again (REVERSED, once), or revoke the
    key if none exists yet (204): the compensation for a partial refund whose answer was
    lost. 409 once the charge was refunded in full."""
    refund = await database.run(service.reverse_refund_by_idempotency_key, idempotency_key)
    if refund is None:
        response.status_code = status.HTTP_204_NO_CONTENT
        return None
    return _refund_public(refund)
