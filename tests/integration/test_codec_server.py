"""The codec server over real HTTP: Temporal's /decode and /encode protocol behind a token, with
CORS open to the Temporal UI's origin only."""

from collections.abc import Iterator

import httpx
import pytest
from google.protobuf import json_format
from pydantic import ValidationError
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.contrib.pydantic import pydantic_data_converter

from common.payload_keys import new_key_entry, parse_keys
from orchestrator.codec import EncryptionCodec
from orchestrator.codec_server import create_app
from orchestrator.config import CodecServerSettings
from tests.support.servers import serve_in_thread
from tests.support.temporal import TEST_PAYLOAD_KEYS, student

TOKEN = "codec-token-for-tests-0123456789"
UI_ORIGIN = "http://127.0.0.1:8233"


@pytest.fixture(scope="module")
def codec_server() -> Iterator[httpx.Client]:
    settings = CodecServerSettings(
        codec_server_token=TOKEN, payload_keys=TEST_PAYLOAD_KEYS, temporal_ui_url=UI_ORIGIN
    )
    with serve_in_thread(create_app(settings)) as url, httpx.Client(base_url=url) as client:
        yield client


def as_json(payloads: list[Payload]) -> dict[str, object]:
    return json_format.MessageToDict(Payloads(payloads=payloads))


def from_json(body: dict[str, object]) -> list[Payload]:
    return list(json_format.ParseDict(body, Payloads()).payloads)


def plain_payload() -> Payload:
    return pydantic_data_converter.payload_converter.to_payloads([student(student_id="stu-codec")])[
        0
    ]


async def sealed_payload(keys: str = TEST_PAYLOAD_KEYS) -> Payload:
    return (await EncryptionCodec(parse_keys(keys)).encode([plain_payload()]))[0]


async def test_decode_with_a_bearer_token_opens_a_sealed_payload(
    codec_server: httpx.Client,
) -> None:
    response = codec_server.post(
        "/decode",
        json=as_json([await sealed_payload()]),
        headers={"Authorization": f"Bearer {TOKEN}", "X-Namespace": "default"},
    )

    assert response.status_code == 200, response.text
    assert from_json(response.json()) == [plain_payload()]
    assert b"Ada Lovelace" in from_json(response.json())[0].data


async def test_the_token_in_the_path_works_for_the_web_ui_and_encode_round_trips(
    codec_server: httpx.Client,
) -> None:
    encoded = codec_server.post(f"/{TOKEN}/encode", json=as_json([plain_payload()]))
    assert encoded.status_code == 200, encoded.text
    assert b"Ada Lovelace" not in from_json(encoded.json())[0].SerializeToString()

    decoded = codec_server.post(f"/{TOKEN}/decode", json=encoded.json())

    assert decoded.status_code == 200, decoded.text
    assert from_json(decoded.json()) == [plain_payload()]


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/decode", {}),
        ("/decode", {"Authorization": "Bearer wrong-token"}),
        ("/decode", {"Authorization": f"Basic {TOKEN}"}),
        ("/wrong-token/decode", {}),
    ],
)
async def test_calls_without_the_right_token_are_refused(
    codec_server: httpx.Client, path: str, headers: dict[str, str]
) -> None:
    response = codec_server.post(path, json=as_json([await sealed_payload()]), headers=headers)

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert "Ada" not in response.text


async def test_a_payload_sealed_with_an_unknown_key_is_a_400_problem(
    codec_server: httpx.Client,
) -> None:
    foreign = await sealed_payload(new_key_entry("elsewhere"))

    response = codec_server.post(f"/{TOKEN}/decode", json=as_json([foreign]))

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert "elsewhere" in response.json()["detail"]


def test_malformed_payloads_are_a_400_problem(codec_server: httpx.Client) -> None:
    response = codec_server.post(f"/{TOKEN}/decode", json={"payloads": [{"data": "not base64 !!"}]})

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"


def test_the_temporal_ui_origin_may_call_it_from_a_browser(codec_server: httpx.Client) -> None:
    preflight = codec_server.options(
        f"/{TOKEN}/decode",
        headers={
            "Origin": UI_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-namespace",
        },
    )

    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == UI_ORIGIN
    assert "x-namespace" in preflight.headers["access-control-allow-headers"].lower()


def test_other_origins_may_not(codec_server: httpx.Client) -> None:
    preflight = codec_server.options(
        f"/{TOKEN}/decode",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
    )

    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers


def test_the_codec_server_refuses_to_start_without_keys_or_with_a_short_token() -> None:
    with pytest.raises(ValidationError, match="PAYLOAD_KEYS"):
        CodecServerSettings(codec_server_token=TOKEN, payload_keys=None)
    with pytest.raises(ValidationError, match="codec_server_token"):
        CodecServerSettings(codec_server_token="short", payload_keys=TEST_PAYLOAD_KEYS)
