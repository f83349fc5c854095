import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from chalicelib.marketplace.signing import sign
from chalicelib.security.inbound import PushRejected, parse_top_timestamp, verify_push

APP_KEY = "12345678"
SECRET = "app-secret-0123456789"
NOW = datetime(2025, 3, 1, 4, 0, 0, tzinfo=UTC)  # 12:00:00 in GMT+8
BODY = json.dumps(
    {"messages": [{"id": "1", "topic": "taobao_trade_TradeSuccess", "content": '{"tid": 1, "n": "小王"}'}]},
    ensure_ascii=False,
).encode()


def signed_query(body=BODY, *, method="hmac-sha256", secret=SECRET, **overrides):
    query = {"app_key": APP_KEY, "timestamp": "2025-03-01 12:00:00", "sign_method": method, **overrides}
    query = {name: value for name, value in query.items() if value is not None}
    query["sign"] = sign(query, secret, method or "md5", body=body)
    return query


def rejection(query, body=BODY, **kwargs):
    with pytest.raises(PushRejected) as caught:
        verify_push(query, body, app_key=APP_KEY, secret=SECRET, now=NOW, **kwargs)
    return caught.value.status, caught.value.reason


@pytest.mark.parametrize("method", ["md5", "hmac", "hmac-sha256"])
def test_a_correctly_signed_push_passes(method):
    assert verify_push(signed_query(method=method), BODY, app_key=APP_KEY, secret=SECRET, now=NOW) is None


def test_sign_method_defaults_to_md5():
    verify_push(signed_query(method=None), BODY, app_key=APP_KEY, secret=SECRET, now=NOW)


def test_lowercase_hex_signature_is_accepted():
    query = signed_query()
    query["sign"] = query["sign"].lower()

    verify_push(query, BODY, app_key=APP_KEY, secret=SECRET, now=NOW)


def test_epoch_millisecond_timestamps_are_accepted():
    millis = str(int(NOW.timestamp() * 1000) - 4000)

    verify_push(signed_query(timestamp=millis), BODY, app_key=APP_KEY, secret=SECRET, now=NOW)


def test_empty_body_is_covered_too():
    verify_push(signed_query(b""), b"", app_key=APP_KEY, secret=SECRET, now=NOW)


def test_tampered_body_is_rejected():
    tampered = BODY.replace(b'"tid\\": 1', b'"tid\\": 2')

    assert tampered != BODY
    assert rejection(signed_query(), tampered) == (401, "signature mismatch")


def test_tampered_query_param_is_rejected():
    query = {**signed_query(), "extra": "1"}

    assert rejection(query) == (401, "signature mismatch")


def test_other_secret_is_rejected():
    assert rejection(signed_query(secret="someone-else")) == (401, "signature mismatch")


@pytest.mark.parametrize("query", [None, {}, {"app_key": APP_KEY, "timestamp": "2025-03-01 12:00:00"}])
def test_missing_signature_is_rejected(query):
    assert rejection(query) == (401, "missing signature")


def test_other_app_key_is_rejected():
    assert rejection(signed_query(app_key="87654321")) == (401, "unknown app_key")


def test_unsupported_sign_method_is_rejected():
    query = signed_query()
    query["sign_method"] = "sha1"

    assert rejection(query) == (401, "unsupported sign_method")


@pytest.mark.parametrize(
    ("timestamp", "accepted"),
    [
        ("2025-03-01 11:55:00", True),  # exactly 300 s old
        ("2025-03-01 12:05:00", True),  # exactly 300 s ahead
        ("2025-03-01 11:54:59", False),
        ("2025-03-01 12:05:01", False),
        ("2025-03-01 04:00:00", False),  # the right wall time in the wrong zone (UTC)
    ],
)
def test_timestamp_tolerance_is_five_minutes_either_way(timestamp, accepted):
    query = signed_query(timestamp=timestamp)
    if accepted:
        verify_push(query, BODY, app_key=APP_KEY, secret=SECRET, now=NOW)
    else:
        assert rejection(query) == (401, "timestamp outside 300s tolerance")


def test_tolerance_is_configurable():
    query = signed_query(timestamp="2025-03-01 11:59:00")

    assert rejection(query, tolerance_seconds=30) == (401, "timestamp outside 30s tolerance")


@pytest.mark.parametrize("timestamp", [None, "", "yesterday", "2025-13-01 12:00:00", "1" * 20, "１７４０８０１６００"])
def test_unparseable_timestamp_is_a_bad_request(timestamp):
    status, _ = rejection(signed_query(timestamp=timestamp))

    assert status == 400


def test_oversized_body_is_rejected_first():
    big = b"x" * 101

    assert rejection({}, big, max_body_bytes=100) == (413, "body larger than 100 bytes")


def test_body_at_the_limit_is_accepted():
    body = b"x" * 100

    verify_push(signed_query(body), body, app_key=APP_KEY, secret=SECRET, now=NOW, max_body_bytes=100)


def test_checks_run_in_order_presence_app_key_timestamp_signature():
    stale_foreign = signed_query(app_key="other", timestamp="2020-01-01 00:00:00")
    assert rejection(stale_foreign)[1] == "unknown app_key"

    stale_bad_sign = {**signed_query(timestamp="2020-01-01 00:00:00"), "sign": "00"}
    assert rejection(stale_bad_sign)[1] == "timestamp outside 300s tolerance"


def test_parse_top_timestamp_reads_gmt8_and_millis():
    assert parse_top_timestamp("2025-03-01 12:00:00") == NOW
    assert parse_top_timestamp("1740801600000") == NOW
    assert parse_top_timestamp("2025-03-01T12:00:00") is None


def test_naive_clock_is_a_programming_error():
    with pytest.raises(ValueError):
        verify_push(signed_query(), BODY, app_key=APP_KEY, secret=SECRET, now=datetime(2025, 3, 1, 4))


@given(
    position=st.integers(min_value=0, max_value=len(BODY) - 1),
    byte=st.integers(min_value=0, max_value=255),
)
def test_any_single_byte_change_of_the_body_is_rejected(position, byte):
    assume(BODY[position] != byte)
    tampered = BODY[:position] + bytes([byte]) + BODY[position + 1 :]

    assert rejection(signed_query(), tampered) == (401, "signature mismatch")


@given(skew=st.integers(min_value=-3600, max_value=3600))
def test_freshness_matches_the_tolerance(skew):
    sent = (NOW + timedelta(seconds=skew)).astimezone(UTC)
    query = signed_query(timestamp=str(int(sent.timestamp() * 1000)))

    if abs(skew) <= 300:
        verify_push(query, BODY, app_key=APP_KEY, secret=SECRET, now=NOW)
    else:
        assert rejection(query)[0] == 401
