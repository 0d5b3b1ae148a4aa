"""How a service's HTTP answer becomes a saga outcome (orchestrator/errors.py)."""

import httpx
import pytest
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from orchestrator.errors import raise_for_outcome
from workflows.contracts import ErrorType


def answer(status: int, body: object | None = None) -> httpx.Response:
    request = httpx.Request("POST", "http://billing/charges")
    if body is None:
        return httpx.Response(status, request=request)
    return httpx.Response(status, json=body, request=request)


def outcome_of(response: httpx.Response) -> ApplicationError:
    with pytest.raises(ApplicationError) as raised:
        raise_for_outcome(response)
    return raised.value


@pytest.mark.parametrize("status", [200, 201, 204])
def test_a_success_raises_nothing(status: int) -> None:
    raise_for_outcome(answer(status))


@pytest.mark.parametrize("status", [402, 404, 409])
def test_a_business_refusal_is_final_benign_and_keeps_the_problem_detail(status: int) -> None:
    problem = {"type": "/problems/card-declined", "detail": "The card was declined."}

    error = outcome_of(answer(status, problem))

    assert error.type == ErrorType.STEP_REFUSED
    assert error.non_retryable
    assert error.category == ApplicationErrorCategory.BENIGN
    assert error.message == "The card was declined."
    assert error.details[0] == {"status": status, "problem_type": "/problems/card-declined"}


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503, 504])
def test_a_transient_fault_is_retried(status: int) -> None:
    error = outcome_of(answer(status, {"detail": "try later"}))

    assert error.type == ErrorType.TRANSIENT_FAULT
    assert not error.non_retryable
    assert "POST /charges answered" in error.message


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_service_token_is_retried_and_names_the_setting_to_fix(status: int) -> None:
    error = outcome_of(answer(status, {"detail": "This service token is not valid here."}))

    assert error.type == ErrorType.NOT_AUTHORIZED
    assert not error.non_retryable
    assert "SERVICE_TOKENS" in error.message


@pytest.mark.parametrize("status", [400, 405, 415, 422])
def test_any_other_client_error_is_a_contract_violation_not_worth_retrying(status: int) -> None:
    error = outcome_of(answer(status, {"title": "Unprocessable"}))

    assert error.type == ErrorType.CONTRACT_VIOLATION
    assert error.non_retryable
    assert error.category != ApplicationErrorCategory.BENIGN


def test_a_body_that_is_not_json_still_yields_a_readable_reason() -> None:
    request = httpx.Request("POST", "http://billing/charges")
    response = httpx.Response(503, text="upstream gone", request=request)

    assert "upstream gone" in outcome_of(response).message
