"""The billing API over real HTTP, on SQLite and (when TEST_POSTGRES_URL is set) PostgreSQL."""

import json
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import httpx
import pytest

from common.problems import PROBLEM_JSON
from services.billing.config import BillingSettings
from services.billing.main import create_app
from tests.support.credentials import SERVICE_HEADERS, TEST_SERVICE_TOKEN
from tests.support.servers import serve_in_thread

CONCURRENT_REQUESTS = 20
TIMEOUT_SECONDS = 30

T = TypeVar("T")


@pytest.fixture
def billing_url(database_url: str) -> Iterator[str]:
    with serve_in_thread(
        create_app(BillingSettings(database_url=database_url, service_tokens=TEST_SERVICE_TOKEN))
    ) as url:
        yield url


@pytest.fixture
def client(billing_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=billing_url, headers=SERVICE_HEADERS, timeout=TIMEOUT_SECONDS
    ) as client:
        yield client


def charge_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "student_id": "student-1",
        "enrollment_id": "enrollment-1",
        "amount_cents": 120_000,
        "currency": "USD",
        "payment_token": "tok_visa",
    }
    return body | overrides


def new_key() -> str:
    return f"charge-{uuid.uuid4()}"


def post_charge(client: httpx.Client, key: str | None = None, **overrides: Any) -> httpx.Response:
    return client.post(
        "/charges", json=charge_body(**overrides), headers={"Idempotency-Key": key or new_key()}
    )


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    problem: dict[str, Any] = response.json()
    assert problem["type"] == f"/problems/{slug}"
    assert problem["status"] == status
    return problem


def in_parallel(task: Callable[[int], T], count: int = CONCURRENT_REQUESTS) -> list[T]:
    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(task, range(count)))


def charges_listed(client: httpx.Client) -> list[dict[str, Any]]:
    response = client.get("/charges")
    assert response.status_code == 200
    listed: list[dict[str, Any]] = response.json()
    return listed


# Charging


def test_an_approved_card_is_captured_and_listed(client: httpx.Client) -> None:
    response = post_charge(client, key="charge-approved-1")

    assert response.status_code == 201, response.text
    charge = response.json()
    assert charge == {
        "charge_id": charge["charge_id"],
        "student_id": "student-1",
        "enrollment_id": "enrollment-1",
        "amount_cents": 120_000,
        "currency": "USD",
        "status": "CAPTURED",
        "refunded_at": None,
        "idempotency_key": "charge-approved-1",
        "refunded_cents": 0,
        "refunds": [],
    }
    assert "Idempotent-Replayed" not in response.headers
    assert client.get(f"/charges/{charge['charge_id']}").json() == charge
    assert charges_listed(client) == [charge]


@pytest.mark.parametrize(
    ("payment_token", "reason"),
    [
        ("tok_declined", "the card was declined"),
        ("tok_insufficient_funds", "insufficient funds"),
        ("tok_unheard_of", "unknown test token 'tok_unheard_of'"),
    ],
)
def test_a_declined_card_is_refused_with_its_reason_and_charges_nothing(
    client: httpx.Client, payment_token: str, reason: str
) -> None:
    response = post_charge(client, payment_token=payment_token)

    problem = assert_problem(response, 402, "card-declined")
    assert reason in problem["detail"]
    assert charges_listed(client) == []


def test_an_unknown_token_is_declined_naming_the_test_tokens(client: httpx.Client) -> None:
    problem = assert_problem(post_charge(client, payment_token="tok_x"), 402, "card-declined")

    for token in ("tok_visa", "tok_declined", "tok_insufficient_funds"):
        assert token in problem["detail"]


def test_a_declined_charge_retried_with_its_key_is_declined_again_not_replayed(
    client: httpx.Client,
) -> None:
    key = new_key()
    assert_problem(post_charge(client, key, payment_token="tok_declined"), 402, "card-declined")

    retry = post_charge(client, key, payment_token="tok_declined")

    assert_problem(retry, 402, "card-declined")
    assert charges_listed(client) == []


def test_a_retry_with_the_same_key_and_body_replays_the_first_charge(
    client: httpx.Client,
) -> None:
    key = new_key()
    first = post_charge(client, key)

    retry = post_charge(client, key)

    assert retry.status_code == 201
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    assert len(charges_listed(client)) == 1


def test_reusing_a_key_with_a_different_body_is_refused(client: httpx.Client) -> None:
    key = new_key()
    post_charge(client, key)

    reused = post_charge(client, key, amount_cents=1)

    assert_problem(reused, 422, "idempotency-key-reused")
    assert len(charges_listed(client)) == 1


def test_concurrent_charges_with_one_key_make_one_charge(billing_url: str) -> None:
    key = new_key()

    def charge(_: int) -> httpx.Response:
        headers = {"Idempotency-Key": key, **SERVICE_HEADERS}
        return httpx.post(
            f"{billing_url}/charges", json=charge_body(), headers=headers, timeout=TIMEOUT_SECONDS
        )

    responses = in_parallel(charge)

    assert {response.status_code for response in responses} == {201}
    assert len({response.json()["charge_id"] for response in responses}) == 1
    replayed = [response for response in responses if "Idempotent-Replayed" in response.headers]
    assert len(replayed) == CONCURRENT_REQUESTS - 1


# Malformed requests


def test_a_charge_without_an_idempotency_key_is_refused(client: httpx.Client) -> None:
    response = client.post("/charges", json=charge_body())

    assert_problem(response, 400, "idempotency-key-missing")
    assert charges_listed(client) == []


@pytest.mark.parametrize(
    "send",
    [
        pytest.param({"content": b"{}", "headers": {"Content-Type": "text/plain"}}, id="text"),
        pytest.param({"data": {"student_id": "student-1"}}, id="form"),
    ],
)
def test_a_body_not_declared_as_json_is_unsupported(
    client: httpx.Client, send: dict[str, Any]
) -> None:
    headers = {"Idempotency-Key": new_key(), **send.pop("headers", {})}

    response = client.post("/charges", headers=headers, **send)

    problem = assert_problem(response, 415, "unsupported-media-type")
    assert "application/json" in problem["detail"]


def test_json_with_a_charset_parameter_is_accepted(client: httpx.Client) -> None:
    headers = {"Idempotency-Key": new_key(), "Content-Type": "application/json; charset=utf-8"}

    response = client.post("/charges", content=json.dumps(charge_body()), headers=headers)

    assert response.status_code == 201, response.text


def test_malformed_json_is_a_bad_request(client: httpx.Client) -> None:
    headers = {"Idempotency-Key": new_key(), "Content-Type": "application/json"}

    response = client.post("/charges", content=b'{"student_id": ', headers=headers)

    assert_problem(response, 400, "malformed-json")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param(charge_body(amount_cents=-100), "body.amount_cents", id="negative-amount"),
        pytest.param(charge_body(amount_cents=0), "body.amount_cents", id="zero-amount"),
        pytest.param(charge_body(amount_cents=12.5), "body.amount_cents", id="fractional-cents"),
        pytest.param(charge_body(amount_cents="100"), "body.amount_cents", id="amount-as-text"),
        pytest.param(charge_body(amount_cents=True), "body.amount_cents", id="amount-as-boolean"),
        pytest.param(charge_body(currency="usd"), "body.currency", id="lowercase-currency"),
        pytest.param(charge_body(currency="US"), "body.currency", id="short-currency"),
        pytest.param(charge_body(currency="EURO"), "body.currency", id="long-currency"),
        pytest.param(
            {k: v for k, v in charge_body().items() if k != "student_id"},
            "body.student_id",
            id="missing-student",
        ),
        pytest.param(charge_body(student_id=""), "body.student_id", id="empty-student"),
        pytest.param(charge_body(discount_cents=100), "body.discount_cents", id="extra-field"),
    ],
)
def test_an_invalid_field_is_refused_by_name(
    client: httpx.Client, body: dict[str, Any], field: str
) -> None:
    response = client.post("/charges", json=body, headers={"Idempotency-Key": new_key()})

    problem = assert_problem(response, 422, "validation-error")
    assert field in problem["detail"]
    assert [error["field"] for error in problem["errors"]] == [field]
    assert charges_listed(client) == []


# Reading


def test_charges_can_be_listed_for_one_student(client: httpx.Client) -> None:
    ada = post_charge(client, student_id="ada").json()
    post_charge(client, student_id="grace")

    response = client.get("/charges", params={"student_id": "ada"})

    assert response.json() == [ada]


def test_an_unknown_charge_is_not_found(client: httpx.Client) -> None:
    problem = assert_problem(client.get("/charges/no-such-charge"), 404, "charge-not-found")

    assert "no-such-charge" in problem["detail"]


# Refunds


def test_a_refunded_charge_is_marked_refunded_with_the_time(client: httpx.Client) -> None:
    charge = post_charge(client).json()

    response = client.post(f"/charges/{charge['charge_id']}/refund")

    assert response.status_code == 200
    refunded = response.json()
    assert refunded["status"] == "REFUNDED"
    assert refunded["refunded_at"] is not None
    assert refunded["refunded_cents"] == charge["amount_cents"]
    [refund] = refunded["refunds"]
    assert (refund["amount_cents"], refund["status"]) == (charge["amount_cents"], "REFUNDED")
    assert refund["idempotency_key"] is None
    before: dict[str, Any] = {
        "status": "CAPTURED",
        "refunded_at": None,
        "refunded_cents": 0,
        "refunds": [],
    }
    assert refunded | before == charge
    assert client.get(f"/charges/{charge['charge_id']}").json() == refunded


def test_refunding_a_refunded_charge_changes_nothing(client: httpx.Client) -> None:
    charge_id = post_charge(client).json()["charge_id"]
    first = client.post(f"/charges/{charge_id}/refund").json()

    again = client.post(f"/charges/{charge_id}/refund")

    assert again.status_code == 200
    assert again.json() == first


def test_refunding_an_unknown_charge_is_not_found(client: httpx.Client) -> None:
    assert_problem(client.post("/charges/no-such-charge/refund"), 404, "charge-not-found")


def test_a_replay_after_a_refund_answers_with_the_refunded_charge(client: httpx.Client) -> None:
    key = new_key()
    charge_id = post_charge(client, key).json()["charge_id"]
    refunded = client.post(f"/charges/{charge_id}/refund").json()

    replay = post_charge(client, key)

    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == refunded


def test_concurrent_refunds_of_one_charge_refund_it_once(
    client: httpx.Client, billing_url: str
) -> None:
    key = new_key()
    charge_id = post_charge(client, key).json()["charge_id"]
    # Half by charge id, half by idempotency key: both doors lead to the same single refund.
    paths = [f"/charges/{charge_id}/refund", f"/charges/by-key/{key}/refund"]

    responses = in_parallel(
        lambda n: httpx.post(
            billing_url + paths[n % 2], headers=SERVICE_HEADERS, timeout=TIMEOUT_SECONDS
        )
    )

    assert {response.status_code for response in responses} == {200}
    assert {response.json()["status"] for response in responses} == {"REFUNDED"}
    assert len({response.json()["refunded_at"] for response in responses}) == 1
    assert len(client.get(f"/charges/{charge_id}").json()["refunds"]) == 1


# Compensation by idempotency key


def test_refund_by_key_refunds_the_charge_made_with_that_key(client: httpx.Client) -> None:
    key = new_key()
    charge = post_charge(client, key).json()

    response = client.post(f"/charges/by-key/{key}/refund")

    assert response.status_code == 200
    assert response.json()["charge_id"] == charge["charge_id"]
    assert response.json()["status"] == "REFUNDED"
    assert client.get(f"/charges/{charge['charge_id']}").json() == response.json()


def test_refund_by_key_before_any_charge_revokes_the_key(client: httpx.Client) -> None:
    key = new_key()

    revoked = client.post(f"/charges/by-key/{key}/refund")
    late_charge = post_charge(client, key)

    assert revoked.status_code == 204
    assert revoked.content == b""
    problem = assert_problem(late_charge, 409, "charge-revoked")
    assert key in problem["detail"]
    assert charges_listed(client) == []


def test_revoking_a_key_twice_is_harmless(client: httpx.Client) -> None:
    key = new_key()
    client.post(f"/charges/by-key/{key}/refund")

    again = client.post(f"/charges/by-key/{key}/refund")

    assert again.status_code == 204
    assert_problem(post_charge(client, key), 409, "charge-revoked")


def test_a_revoked_key_does_not_affect_other_keys(client: httpx.Client) -> None:
    client.post(f"/charges/by-key/{new_key()}/refund")

    assert post_charge(client).status_code == 201


def test_concurrent_revocations_of_one_key_all_succeed(billing_url: str) -> None:
    key = new_key()

    responses = in_parallel(
        lambda _: httpx.post(
            f"{billing_url}/charges/by-key/{key}/refund",
            headers=SERVICE_HEADERS,
            timeout=TIMEOUT_SECONDS,
        )
    )

    assert {response.status_code for response in responses} == {204}


def test_a_charge_racing_the_revocation_of_its_key_never_stays_captured(
    client: httpx.Client, billing_url: str
) -> None:
    keys = [new_key() for _ in range(CONCURRENT_REQUESTS // 2)]

    def charge_or_revoke(n: int) -> httpx.Response:
        key = keys[n // 2]
        if n % 2 == 0:
            headers = {"Idempotency-Key": key, **SERVICE_HEADERS}
            return httpx.post(
                f"{billing_url}/charges",
                json=charge_body(),
                headers=headers,
                timeout=TIMEOUT_SECONDS,
            )
        return httpx.post(
            f"{billing_url}/charges/by-key/{key}/refund",
            headers=SERVICE_HEADERS,
            timeout=TIMEOUT_SECONDS,
        )

    responses = in_parallel(charge_or_revoke)

    charged = [response for response in responses[0::2] if response.status_code == 201]
    refused = [response for response in responses[0::2] if response.status_code == 409]
    assert len(charged) + len(refused) == len(keys)
    assert {charge["status"] for charge in charges_listed(client)} <= {"REFUNDED"}
    assert len(charges_listed(client)) == len(charged)


def test_a_key_longer_than_an_idempotency_key_cannot_be_revoked(client: httpx.Client) -> None:
    response = client.post(f"/charges/by-key/{'k' * 256}/refund")

    assert_problem(response, 422, "validation-error")


# Health


def test_the_service_is_alive_and_ready(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}


def test_charges_can_be_listed_by_the_prefix_of_their_idempotency_key(
    client: httpx.Client,
) -> None:
    mine = post_charge(client, key="saga-a:run-1:charge_tuition").json()
    post_charge(client, key="saga-b:run-1:charge_tuition", student_id="student-2")
    post_charge(client, key="saga_a:run-1:charge_tuition", student_id="student-3")

    listed = client.get("/charges", params={"idempotency_key_prefix": "saga-a:"}).json()
    wildcard = client.get("/charges", params={"idempotency_key_prefix": "saga%"}).json()

    assert listed == [mine]
    assert wildcard == []


# Partial refunds


def captured(client: httpx.Client, amount_cents: int = 1_000, **overrides: Any) -> dict[str, Any]:
    response = post_charge(client, amount_cents=amount_cents, **overrides)
    assert response.status_code == 201, response.text
    charge: dict[str, Any] = response.json()
    return charge


def refund_part(
    client: httpx.Client, charge_id: str, amount_cents: Any, key: str | None = None
) -> httpx.Response:
    return client.post(
        f"/charges/{charge_id}/refunds",
        json={"amount_cents": amount_cents},
        headers={"Idempotency-Key": key or f"refund-{uuid.uuid4()}"},
    )


def reverse(client: httpx.Client, key: str) -> httpx.Response:
    return client.post(f"/refunds/by-key/{key}/reverse")


def charge_now(client: httpx.Client, charge_id: str) -> dict[str, Any]:
    found: dict[str, Any] = client.get(f"/charges/{charge_id}").json()
    return found


def test_a_partial_refund_returns_part_of_the_money_and_leaves_the_charge_captured(
    client: httpx.Client,
) -> None:
    charge = captured(client, 1_000)

    response = refund_part(client, charge["charge_id"], 250, key="refund-part-1")

    assert response.status_code == 201, response.text
    assert "Idempotent-Replayed" not in response.headers
    refund = response.json()
    assert refund == {
        "refund_id": refund["refund_id"],
        "charge_id": charge["charge_id"],
        "amount_cents": 250,
        "status": "REFUNDED",
        "idempotency_key": "refund-part-1",
        "created_at": refund["created_at"],
        "reversed_at": None,
    }
    after = charge_now(client, charge["charge_id"])
    assert after == charge | {"refunded_cents": 250, "refunds": [refund]}
    assert after["status"] == "CAPTURED"
    assert charges_listed(client) == [after]


def test_a_charge_holds_several_partial_refunds_up_to_its_amount_and_not_a_cent_more(
    client: httpx.Client,
) -> None:
    charge_id = captured(client, 1_000)["charge_id"]
    made = [refund_part(client, charge_id, amount) for amount in (100, 400, 500)]

    one_cent_more = refund_part(client, charge_id, 1)

    assert [response.status_code for response in made] == [201, 201, 201]
    problem = assert_problem(one_cent_more, 409, "refund-exceeds-charge")
    assert "0 cents" in problem["detail"]
    after = charge_now(client, charge_id)
    assert (after["status"], after["refunded_cents"]) == ("CAPTURED", 1_000)
    assert [refund["amount_cents"] for refund in after["refunds"]] == [100, 400, 500]


def test_a_refund_beyond_what_is_left_is_refused_and_writes_nothing(client: httpx.Client) -> None:
    charge_id = captured(client, 1_000)["charge_id"]
    refund_part(client, charge_id, 700)
    key = f"refund-{uuid.uuid4()}"

    refused = refund_part(client, charge_id, 301, key=key)
    retried_smaller = refund_part(client, charge_id, 300, key=key)

    problem = assert_problem(refused, 409, "refund-exceeds-charge")
    assert "301" in problem["detail"] and "300 cents" in problem["detail"]
    # The refusal stored nothing under the key: a retry is decided afresh.
    assert retried_smaller.status_code == 201, retried_smaller.text
    assert charge_now(client, charge_id)["refunded_cents"] == 1_000


def test_a_charge_refunded_in_full_refuses_a_partial_refund(client: httpx.Client) -> None:
    charge_id = captured(client)["charge_id"]
    client.post(f"/charges/{charge_id}/refund")

    assert_problem(refund_part(client, charge_id, 1), 409, "refund-exceeds-charge")
    assert len(charge_now(client, charge_id)["refunds"]) == 1


def test_the_full_refund_after_partial_ones_refunds_what_is_left(client: httpx.Client) -> None:
    charge_id = captured(client, 1_000)["charge_id"]
    refund_part(client, charge_id, 300)

    refunded = client.post(f"/charges/{charge_id}/refund").json()
    again = client.post(f"/charges/{charge_id}/refund").json()

    assert (refunded["status"], refunded["refunded_cents"]) == ("REFUNDED", 1_000)
    assert [refund["amount_cents"] for refund in refunded["refunds"]] == [300, 700]
    assert again == refunded


def test_the_full_refund_of_a_charge_refunded_to_the_last_cent_adds_no_refund(
    client: httpx.Client,
) -> None:
    charge_id = captured(client, 1_000)["charge_id"]
    refund_part(client, charge_id, 1_000)

    refunded = client.post(f"/charges/{charge_id}/refund").json()

    assert (refunded["status"], refunded["refunded_cents"]) == ("REFUNDED", 1_000)
    assert len(refunded["refunds"]) == 1


def test_a_partial_refund_retried_with_its_key_and_body_replays_the_first_refund(
    client: httpx.Client,
) -> None:
    charge_id = captured(client, 1_000)["charge_id"]
    key = f"refund-{uuid.uuid4()}"
    first = refund_part(client, charge_id, 250, key=key)

    retry = refund_part(client, charge_id, 250, key=key)

    assert retry.status_code == 201
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    assert charge_now(client, charge_id)["refunded_cents"] == 250


@pytest.mark.parametrize("change", ["amount", "charge"])
def test_reusing_a_refund_key_for_another_amount_or_charge_is_refused(
    client: httpx.Client, change: str
) -> None:
    charge_id = captured(client, 1_000)["charge_id"]
    other_id = captured(client, 1_000)["charge_id"]
    key = f"refund-{uuid.uuid4()}"
    refund_part(client, charge_id, 250, key=key)

    reused = (
        refund_part(client, charge_id, 251, key=key)
        if change == "amount"
        else refund_part(client, other_id, 250, key=key)
    )

    assert_problem(reused, 422, "idempotency-key-reused")
    assert charge_now(client, charge_id)["refunded_cents"] == 250
    assert charge_now(client, other_id)["refunded_cents"] == 0


def test_a_partial_refund_of_an_unknown_charge_is_not_found(client: httpx.Client) -> None:
    assert_problem(refund_part(client, "no-such-charge", 100), 404, "charge-not-found")


def test_a_partial_refund_without_an_idempotency_key_is_refused(client: httpx.Client) -> None:
    charge_id = captured(client)["charge_id"]

    response = client.post(f"/charges/{charge_id}/refunds", json={"amount_cents": 100})

    assert_problem(response, 400, "idempotency-key-missing")
    assert charge_now(client, charge_id)["refunds"] == []


def test_a_partial_refund_not_declared_as_json_is_unsupported(client: httpx.Client) -> None:
    charge_id = captured(client)["charge_id"]
    headers = {"Idempotency-Key": new_key(), "Content-Type": "text/plain"}

    response = client.post(
        f"/charges/{charge_id}/refunds", content=b'{"amount_cents": 100}', headers=headers
    )

    problem = assert_problem(response, 415, "unsupported-media-type")
    assert "application/json" in problem["detail"]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"amount_cents": 0}, id="zero"),
        pytest.param({"amount_cents": -100}, id="negative"),
        pytest.param({"amount_cents": 12.5}, id="fractional"),
        pytest.param({"amount_cents": "100"}, id="text"),
        pytest.param({"amount_cents": True}, id="boolean"),
        pytest.param({}, id="missing"),
        pytest.param({"amount_cents": 100, "reason": "goodwill"}, id="extra-field"),
    ],
)
def test_an_invalid_refund_amount_is_refused_by_name(
    client: httpx.Client, body: dict[str, Any]
) -> None:
    charge_id = captured(client)["charge_id"]

    response = client.post(
        f"/charges/{charge_id}/refunds", json=body, headers={"Idempotency-Key": new_key()}
    )

    problem = assert_problem(response, 422, "validation-error")
    assert problem["errors"][0]["field"].startswith("body")
    assert "amount_cents" in problem["detail"] or "reason" in problem["detail"]
    assert charge_now(client, charge_id)["refunds"] == []


def test_concurrent_partial_refunds_never_refund_more_than_the_charge(
    client: httpx.Client, billing_url: str
) -> None:
    charge_id = captured(client, 1_000)["charge_id"]

    def refund(n: int) -> httpx.Response:
        return httpx.post(
            f"{billing_url}/charges/{charge_id}/refunds",
            json={"amount_cents": 300},
            headers={"Idempotency-Key": f"refund-{charge_id}-{n}", **SERVICE_HEADERS},
            timeout=TIMEOUT_SECONDS,
        )

    responses = in_parallel(refund)

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201] * 3 + [409] * (CONCURRENT_REQUESTS - 3)
    after = charge_now(client, charge_id)
    assert (after["refunded_cents"], len(after["refunds"])) == (900, 3)


def test_concurrent_partial_refunds_with_one_key_make_one_refund(
    client: httpx.Client, billing_url: str
) -> None:
    charge_id = captured(client, 1_000)["charge_id"]
    key = f"refund-{uuid.uuid4()}"

    responses = in_parallel(
        lambda _: httpx.post(
            f"{billing_url}/charges/{charge_id}/refunds",
            json={"amount_cents": 100},
            headers={"Idempotency-Key": key, **SERVICE_HEADERS},
            timeout=TIMEOUT_SECONDS,
        )
    )

    assert {response.status_code for response in responses} == {201}
    assert len({response.json()["refund_id"] for response in responses}) == 1
    assert charge_now(client, charge_id)["refunded_cents"] == 100


def test_partial_refunds_racing_the_full_refund_add_up_to_the_amount_exactly(
    client: httpx.Client, billing_url: str
) -> None:
    key = new_key()
    charge_id = captured(client, 1_000, key=key)["charge_id"]

    def refund_part_or_all(n: int) -> httpx.Response:
        if n % 2 == 0:
            return httpx.post(
                f"{billing_url}/charges/{charge_id}/refunds",
                json={"amount_cents": 100},
                headers={"Idempotency-Key": f"refund-{charge_id}-{n}", **SERVICE_HEADERS},
                timeout=TIMEOUT_SECONDS,
            )
        return httpx.post(
            f"{billing_url}/charges/by-key/{key}/refund",
            headers=SERVICE_HEADERS,
            timeout=TIMEOUT_SECONDS,
        )

    responses = in_parallel(refund_part_or_all)

    assert {response.status_code for response in responses[0::2]} <= {201, 409}
    assert {response.status_code for response in responses[1::2]} == {200}
    after = charge_now(client, charge_id)
    assert (after["status"], after["refunded_cents"]) == ("REFUNDED", 1_000)
    assert sum(refund["amount_cents"] for refund in after["refunds"]) == 1_000


# Reversing a partial refund (its compensation, by idempotency key)


def test_reversing_a_partial_refund_takes_its_money_again_once(client: httpx.Client) -> None:
    charge = captured(client, 1_000)
    key = f"refund-{uuid.uuid4()}"
    refund = refund_part(client, charge["charge_id"], 250, key=key).json()

    first = reverse(client, key)
    second = reverse(client, key)

    assert first.status_code == 200, first.text
    reversed_refund = first.json()
    assert reversed_refund["status"] == "REVERSED"
    assert reversed_refund["reversed_at"] is not None
    assert reversed_refund | {"status": "REFUNDED", "reversed_at": None} == refund
    assert (second.status_code, second.json()) == (200, reversed_refund)
    after = charge_now(client, charge["charge_id"])
    assert after == charge | {"refunded_cents": 0, "refunds": [reversed_refund]}


def test_a_reversed_refund_frees_its_amount_for_another_refund(client: httpx.Client) -> None:
    charge_id = captured(client, 1_000)["charge_id"]
    key = f"refund-{uuid.uuid4()}"
    refund_part(client, charge_id, 1_000, key=key)
    reverse(client, key)

    again = refund_part(client, charge_id, 1_000)

    assert again.status_code == 201, again.text
    assert charge_now(client, charge_id)["refunded_cents"] == 1_000


def test_a_refund_replayed_after_its_reversal_answers_it_reversed_and_refunds_nothing(
    client: httpx.Client,
) -> None:
    charge_id = captured(client, 1_000)["charge_id"]
    key = f"refund-{uuid.uuid4()}"
    refund_part(client, charge_id, 250, key=key)
    reversed_refund = reverse(client, key).json()

    replay = refund_part(client, charge_id, 250, key=key)

    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == reversed_refund
    assert charge_now(client, charge_id)["refunded_cents"] == 0


def test_reversing_before_any_refund_revokes_the_key(client: httpx.Client) -> None:
    charge_id = captured(client, 1_000)["charge_id"]
    key = f"refund-{uuid.uuid4()}"

    first = reverse(client, key)
    second = reverse(client, key)
    late_refund = refund_part(client, charge_id, 250, key=key)

    assert (first.status_code, first.content) == (204, b"")
    assert (second.status_code, second.content) == (204, b"")
    problem = assert_problem(late_refund, 409, "refund-revoked")
    assert key in problem["detail"]
    assert charge_now(client, charge_id)["refunds"] == []
    assert refund_part(client, charge_id, 250).status_code == 201  # other keys are unaffected


def test_a_refund_of_a_charge_refunded_in_full_since_cannot_be_reversed(
    client: httpx.Client,
) -> None:
    charge_id = captured(client, 1_000)["charge_id"]
    key = f"refund-{uuid.uuid4()}"
    refund_part(client, charge_id, 250, key=key)
    refunded = client.post(f"/charges/{charge_id}/refund").json()

    response = reverse(client, key)

    problem = assert_problem(response, 409, "refund-not-reversible")
    assert key in problem["detail"] and charge_id in problem["detail"]
    assert charge_now(client, charge_id) == refunded


def test_concurrent_reversals_of_one_refund_reverse_it_once(
    client: httpx.Client, billing_url: str
) -> None:
    charge_id = captured(client, 1_000)["charge_id"]
    key = f"refund-{uuid.uuid4()}"
    refund_part(client, charge_id, 250, key=key)

    responses = in_parallel(
        lambda _: httpx.post(
            f"{billing_url}/refunds/by-key/{key}/reverse",
            headers=SERVICE_HEADERS,
            timeout=TIMEOUT_SECONDS,
        )
    )

    assert {response.status_code for response in responses} == {200}
    assert len({response.json()["reversed_at"] for response in responses}) == 1
    assert charge_now(client, charge_id)["refunded_cents"] == 0


def test_a_refund_racing_the_reversal_of_its_key_never_stays_refunded(
    client: httpx.Client, billing_url: str
) -> None:
    charge_id = captured(client, 100_000)["charge_id"]
    keys = [f"refund-{uuid.uuid4()}" for _ in range(CONCURRENT_REQUESTS // 2)]

    def refund_or_reverse(n: int) -> httpx.Response:
        key = keys[n // 2]
        if n % 2 == 0:
            return httpx.post(
                f"{billing_url}/charges/{charge_id}/refunds",
                json={"amount_cents": 100},
                headers={"Idempotency-Key": key, **SERVICE_HEADERS},
                timeout=TIMEOUT_SECONDS,
            )
        return httpx.post(
            f"{billing_url}/refunds/by-key/{key}/reverse",
            headers=SERVICE_HEADERS,
            timeout=TIMEOUT_SECONDS,
        )

    responses = in_parallel(refund_or_reverse)

    refunds = responses[0::2]
    assert {outcome.status_code for outcome in refunds} <= {201, 409}
    after = charge_now(client, charge_id)
    assert after["refunded_cents"] == 0
    assert {refund["status"] for refund in after["refunds"]} <= {"REVERSED"}
    assert len(after["refunds"]) == sum(outcome.status_code == 201 for outcome in refunds)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/charges/" + "c" * 5_000),
        ("POST", "/charges/" + "c" * 5_000 + "/refunds"),
        ("POST", "/refunds/by-key/" + "k" * 5_000 + "/reverse"),
        ("GET", "/charges?enrollment_id=" + "e" * 5_000),
        ("GET", "/charges/a%00b"),
        ("POST", "/refunds/by-key/a%00b/reverse"),
    ],
    ids=["charge", "refund-part", "reverse", "enrollment-filter", "nul-charge", "nul-key"],
)
def test_very_long_or_nul_ids_are_refused_as_invalid(
    client: httpx.Client, method: str, path: str
) -> None:
    headers = {"Idempotency-Key": new_key()}
    response = client.request(method, path, json={"amount_cents": 1}, headers=headers)

    assert_problem(response, 422, "validation-error")


def test_charges_can_be_listed_for_one_enrollment(client: httpx.Client) -> None:
    first = captured(client, enrollment_id="enrollment-a")
    second = captured(client, enrollment_id="enrollment-a", student_id="student-1")
    captured(client, enrollment_id="enrollment-b")

    listed = client.get("/charges", params={"enrollment_id": "enrollment-a"}).json()
    nothing = client.get("/charges", params={"enrollment_id": "enrollment-z"}).json()

    assert listed == [first, second]
    assert nothing == []
