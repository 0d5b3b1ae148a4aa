"""How a service's HTTP answer becomes a saga outcome (orchestrator/errors.py)."""

import json

import pytest
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from orchestrator.errors import ServiceAnswer, no_answer, raise_for_outcome
from sagas import ErrorType


def answer(status: int, body: object | None = None, text: str = "") -> ServiceAnswer:
    content = json.dumps(body).encode() if body is not None else text.encode()
    return ServiceAnswer("POST", "/charges", status, "Some Reason", content)


def outcome_of(response: ServiceAnswer) -> ApplicationError:
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
    assert "upstream gone" in outcome_of(answer(503, text="upstream gone")).message
    assert "Some Reason" in outcome_of(answer(503)).message  # no body: the status's reason


def test_no_answer_at_all_is_retried_and_says_what_went_wrong() -> None:
    refused = no_answer("POST", "/charges", ConnectionRefusedError("Connect call failed"))
    timed_out = no_answer("POST", "/charges", TimeoutError())

    assert refused.type == timed_out.type == ErrorType.TRANSIENT_FAULT
    assert not refused.non_retryable and not timed_out.non_retryable
    assert refused.message == "POST /charges failed: Connect call failed"
    assert "no answer within the HTTP timeout" in timed_out.message
