"""The TOP wire protocol as the platform enforces it, on the sandbox gateway: required system parameters, their error
codes, XML by default, the request shapes the official SDKs send, and a client that never sends an empty parameter."""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from datetime import timedelta
from urllib.parse import parse_qsl, urlencode

import pytest
import urllib3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.marketplace import signing
from chalicelib.marketplace.client import TopClient
from chalicelib.marketplace.errors import TopCode
from chalicelib.marketplace.models import format_top_time
from tests.sandbox_fixtures import (
    APP_KEY,
    APP_SECRET,
    make_client,
    sandbox,  # noqa: F401
    top_client,  # noqa: F401
)

SELLER = "protocol-shop"


def _system(market, method: str = "taobao.traderates.get", **extra: str) -> dict[str, str]:
    params = {
        "method": method,
        "app_key": APP_KEY,
        "timestamp": format_top_time(market.clock()),
        "v": "2.0",
        "format": "json",
        "sign_method": "md5",
        **extra,
    }
    return {name: value for name, value in params.items() if value is not None}


def _send(market, params: dict[str, str], *, body: dict[str, str] | None = None, sign: bool = True):
    """POST ``params`` in the query string and ``body`` in the form body, signed over both (the SDKs' shape)."""
    query = dict(params)
    if sign:
        method = query.get("sign_method") if query.get("sign_method") in signing.SIGN_METHODS else "md5"
        query["sign"] = signing.sign({**query, **(body or {})}, APP_SECRET, method)
    return urllib3.request(
        "POST",
        f"{market.base_url}/router/rest?{urlencode(query)}",
        body=urlencode(body or {}),
        headers={"Content-Type": "application/x-www-form-urlencoded;charset=utf-8"},
    )


def _error_code(response) -> int:
    if response.headers["Content-Type"].startswith("text/xml"):
        root = ET.fromstring(response.data)
        assert root.tag == "error_response", response.data
        return int(root.findtext("code"))
    return int(response.json()["error_response"]["code"])


def _rates_body(session: str) -> dict[str, str]:
    return {"session": session, "fields": "tid,result", "rate_type": "give", "role": "seller"}


@pytest.mark.parametrize(
    ("drop", "code"),
    [
        ("method", TopCode.MISSING_METHOD),
        ("app_key", TopCode.MISSING_APP_KEY),
        ("timestamp", TopCode.MISSING_TIMESTAMP),
        ("v", TopCode.MISSING_VERSION),
        ("sign_method", TopCode.MISSING_REQUIRED_ARGUMENTS),
        ("session", TopCode.MISSING_SESSION),
    ],
)
def test_each_missing_system_parameter_has_its_code(sandbox, drop: str, code: int) -> None:  # noqa: F811
    account = sandbox.add_seller(SELLER)
    params = {name: value for name, value in _system(sandbox).items() if name != drop}
    body = {name: value for name, value in _rates_body(account.access_token).items() if name != drop}
    assert _error_code(_send(sandbox, params, body=body)) == code


def test_a_missing_signature_is_refused(sandbox) -> None:  # noqa: F811
    account = sandbox.add_seller(SELLER)
    response = _send(sandbox, _system(sandbox), body=_rates_body(account.access_token), sign=False)
    assert _error_code(response) == TopCode.MISSING_SIGNATURE


@pytest.mark.parametrize(
    ("name", "value", "code"),
    [
        ("v", "two", TopCode.INVALID_VERSION),
        ("v", "3.0", TopCode.UNSUPPORTED_VERSION),
        ("format", "yaml", TopCode.INVALID_FORMAT),
        ("app_key", "999", TopCode.INVALID_APP_KEY),
        ("timestamp", "yesterday", TopCode.INVALID_TIMESTAMP),
        ("sign_method", "sha1", TopCode.INVALID_ARGUMENTS),
    ],
)
def test_each_bad_system_parameter_has_its_code(sandbox, name: str, value: str, code: int) -> None:  # noqa: F811
    account = sandbox.add_seller(SELLER)
    params = {**_system(sandbox), name: value}
    assert _error_code(_send(sandbox, params, body=_rates_body(account.access_token))) == code


def test_the_answer_is_xml_unless_json_is_asked_for(sandbox) -> None:  # noqa: F811
    account = sandbox.add_seller(SELLER)
    params = {name: value for name, value in _system(sandbox).items() if name != "format"}
    xml = _send(sandbox, params, body=_rates_body(account.access_token))
    assert xml.status == 200 and xml.headers["Content-Type"].startswith("text/xml")
    root = ET.fromstring(xml.data)
    assert root.tag == "traderates_get_response" and root.findtext("total_results") == "0"
    as_json = _send(sandbox, _system(sandbox), body=_rates_body(account.access_token))
    assert as_json.headers["Content-Type"].startswith("application/json")
    assert as_json.json()["traderates_get_response"]["total_results"] == 0


def test_the_sdk_request_shape_is_accepted(sandbox) -> None:  # noqa: F811
    """System parameters in the query, API parameters in the form body, the timestamp as epoch milliseconds."""
    account = sandbox.add_seller(SELLER)
    epoch_ms = str(int(sandbox.clock().timestamp() * 1000))
    response = _send(sandbox, _system(sandbox, timestamp=epoch_ms), body=_rates_body(account.access_token))
    assert response.status == 200 and "traderates_get_response" in response.json(), response.data


def test_a_timestamp_ten_minutes_off_is_refused(sandbox) -> None:  # noqa: F811
    account = sandbox.add_seller(SELLER)
    skewed = format_top_time(sandbox.clock() - timedelta(minutes=11))
    response = _send(sandbox, _system(sandbox, timestamp=skewed), body=_rates_body(account.access_token))
    assert _error_code(response) == TopCode.INVALID_TIMESTAMP


def test_an_empty_parameter_signed_as_a_bare_name_is_refused(sandbox) -> None:  # noqa: F811
    """The Python SDK signs ``content=`` as ``content``; the Java rule (and the gateway) leave it out."""
    account = sandbox.add_seller(SELLER)
    query = _system(sandbox, method="taobao.traderate.add")
    body = {"session": account.access_token, "tid": "1", "result": "good", "role": "seller", "content": ""}
    text = "".join(f"{k}{v}" for k, v in sorted({**query, **body}.items()))  # the bare name stays in
    query["sign"] = hashlib.md5(f"{APP_SECRET}{text}{APP_SECRET}".encode()).hexdigest().upper()
    response = urllib3.request(
        "POST",
        f"{sandbox.base_url}/router/rest?{urlencode(query)}",
        body=urlencode(body),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert _error_code(response) == TopCode.INVALID_SIGNATURE


def test_a_review_without_content_is_posted(sandbox, top_client) -> None:  # noqa: F811
    account = sandbox.add_seller(SELLER)
    now = sandbox.clock()
    sandbox.add_trade(
        SELLER,
        tid=77,
        oid=770,
        buyer_nick="b",
        buyer_open_uid="AAH77",
        payment="9.90",
        item_title="cup",
        created=now - timedelta(days=3),
        end_time=now - timedelta(days=1),
    )
    added = top_client.traderate_add(account.access_token, 77, content="")
    assert added.tid == 77 and sandbox.rates_given(SELLER)[0]["content"] == ""


class _RecordingPool:
    """Stands in for urllib3's pool: keeps each request body and answers an empty success."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    def request(self, method, url, body=None, headers=None, timeout=None, retries=None):
        self.bodies.append(body)

        class Answer:
            status = 200
            data = b'{"any_get_response":{}}'

        return Answer()


_values = st.one_of(
    st.none(),
    st.just(""),
    st.text(max_size=8),
    st.integers(min_value=-5, max_value=10**12),
    st.booleans(),
)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(params=st.dictionaries(st.text(alphabet="abcdefgh_", min_size=1, max_size=6), _values, max_size=6))
def test_the_client_never_sends_an_empty_parameter(sandbox, params) -> None:  # noqa: F811
    pool = _RecordingPool()
    client = TopClient("http://127.0.0.1:9", APP_KEY, APP_SECRET, now=sandbox.clock, pool=pool)
    client.call("taobao.any.get", params, session="6201session")
    sent = dict(parse_qsl(pool.bodies[0].decode(), keep_blank_values=True))
    assert all(value != "" for value in sent.values())
    kept = {name for name, value in params.items() if value is not None and str(value) != ""}
    assert kept <= set(sent)
    assert {"method", "app_key", "timestamp", "v", "format", "sign_method", "session", "sign"} <= set(sent)
    assert signing.verify({k: v for k, v in sent.items() if k != "sign"}, APP_SECRET, sent["sign"])


def test_the_client_speaks_json_to_the_gateway(sandbox) -> None:  # noqa: F811
    """The client's own requests pass every gateway check (``format=json`` among them)."""
    account = sandbox.add_seller(SELLER)
    assert list(make_client(sandbox).traderates_get(account.access_token)) == []
