import copy
import io
import json
import logging
import uuid

import pytest
from aws_lambda_powertools import Logger
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.container import reset
from chalicelib.security.logging import RedactingFormatter, get_logger
from chalicelib.security.redaction import MASK, is_sensitive_key, redact

TOKEN = "6201a9f0c3e4b5d6e7f8091a2b3c4d5e6f7a8b9c0d1e"
HEX_SECRET = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    "key",
    [
        "access_token",
        "Refresh_Token",
        "buyer_nick",
        "user_nick",
        "Authorization",
        "app_secret",
        "sessionKey",
        "password",
        "sign",
        "x-top-sign",
        "buyer_open_uid",
        "Cookie",
    ],
)
def test_sensitive_keys_are_masked_whatever_the_value(key):
    record = {key: {"nested": TOKEN}, "tid": 1001}

    assert redact(record) == {key: MASK, "tid": 1001}


@pytest.mark.parametrize("key", ["sign_method", "SIGN_METHOD", "token_type", "masked_nick", "nick_masked"])
def test_metadata_and_masked_keys_are_kept(key):
    assert redact({key: "hmac"}) == {key: "hmac"}
    assert not is_sensitive_key(key)


def test_plain_values_pass_through_unchanged():
    record = {"tid": 123456789012345678, "ok": True, "rate": 0.5, "missing": None, "topic": "taobao_trade_TradeRated"}

    assert redact(record) == record


def test_recurses_into_lists_and_tuples_and_keeps_their_types():
    value = [({"nick": "tb_buyer1"}, f"id {TOKEN}")]

    assert redact(value) == [({"nick": MASK}, "id 6201…")]


def test_does_not_modify_its_input():
    record = {"seller": {"access_token": TOKEN}, "notes": [f"token={TOKEN}"]}
    before = copy.deepcopy(record)

    redact(record)

    assert record == before


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("refresh failed for session=abc123", "refresh failed for session=***"),
        ("ValueError: access_token=xyz bad", "ValueError: access_token=*** bad"),
        ("Authorization: Bearer abc.def", "Authorization: ***"),
        ("{'nick': 'tb_buyer1', 'masked_nick': 't***1'}", "{'nick': '***', 'masked_nick': 't***1'}"),
        ('{"buyer_nick": "买家小王"}', '{"buyer_nick": "***"}'),
        ("app_key=12345&sign=ABCDEF&sign_method=md5", "app_key=12345&sign=***&sign_method=md5"),
        ("tid=123 status: TRADE_FINISHED", "tid=123 status: TRADE_FINISHED"),
    ],
)
def test_sensitive_name_value_pairs_in_text_lose_the_value(text, expected):
    assert redact(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"got {TOKEN} back", "got 6201… back"),
        (f"hex {HEX_SECRET}", "hex 0123…"),
        ("x" * 10 + "0" * 32, "xxxx…"),
        ("a1" * 12, "a1a1…"),
        ("1234567890" * 4, "1234…"),  # 32+ hex digits even without letters
        ("deadbeef" * 4, "dead…"),  # ... or without digits
    ],
)
def test_token_like_runs_are_cut_to_four_characters(text, expected):
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "a1" * 11 + "a",  # 23 characters: one short of the threshold
        "taobao_refund_RefundCreated",  # long but letters only: an identifier
        "limited-by-app-access-count",
        "tid 1234567890123456789",  # 19-digit trade ids stay readable
    ],
)
def test_ordinary_words_and_ids_are_kept(text):
    assert redact(text) == text


secret_runs = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", min_size=22).map(
    lambda core: f"a{core}7"
)
separators = st.sampled_from([" ", ", ", "\n", "/", "(", ") ", '"', "."])
filler = st.text(alphabet="abc xyz.,:/", max_size=20)


@given(secret=secret_runs, before=filler, after=filler, left=separators, right=separators)
def test_a_token_embedded_in_text_never_survives(secret, before, after, left, right):
    text = f"{before}{left}{secret}{right}{after}"

    assert secret not in redact(text)


@given(
    secret=st.text(min_size=1, max_size=40),
    key=st.sampled_from(["nick", "access_token", "refreshToken", "client_secret", "session"]),
    depth=st.integers(min_value=0, max_value=3),
)
def test_a_value_under_a_sensitive_key_is_masked_at_any_depth(secret, key, depth):
    value: object = {key: secret}
    for level in range(depth):
        value = [{"level": level, "child": value}]

    redacted = redact(value)
    for _ in range(depth):
        redacted = redacted[0]["child"]
    assert redacted == {key: MASK}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=60),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_redaction_is_idempotent(value):
    once = redact(value)

    assert redact(once) == once


def _service() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"


def _lines(buffer: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_logger_never_writes_tokens_secrets_or_nicks():
    buffer = io.StringIO()
    logger = get_logger(_service(), stream=buffer)
    logger.append_keys(seller_session=TOKEN)

    logger.info(f"refreshed token {TOKEN}", extra={"buyer_nick": "tb_buyer1", "app_secret": "s3cr3t-value"})
    logger.info({"event": "rated", "rater_nick": "买家小王"})
    try:
        raise RuntimeError(f"refresh failed: refresh_token={HEX_SECRET}")
    except RuntimeError:
        logger.exception("token refresh")
    logger.remove_keys(["seller_session"])

    output = buffer.getvalue()
    for secret in (TOKEN, HEX_SECRET, "s3cr3t-value", "tb_buyer1", "买家小王"):
        assert secret not in output
    first, second, third = _lines(buffer)
    assert first["buyer_nick"] == MASK and first["app_secret"] == MASK and first["seller_session"] == MASK
    assert first["message"] == "refreshed token 6201…"
    assert second["message"] == {"event": "rated", "rater_nick": MASK}
    assert third["exception_name"] == "RuntimeError"
    assert "refresh_token=***" in third["exception"]


def test_logger_keeps_runtime_identifiers_readable():
    buffer = io.StringIO()
    logger = get_logger(_service(), stream=buffer)
    request_id = "c6af9ac6-7b61-11e6-9a41-93e812345678"

    logger.set_correlation_id(request_id)
    logger.info("tid %s done", 1234567890123456789, extra={"topic": "taobao_trade_TradeSuccess"})

    (line,) = _lines(buffer)
    assert line["correlation_id"] == request_id
    assert line["message"] == "tid 1234567890123456789 done"
    assert line["topic"] == "taobao_trade_TradeSuccess"


def test_log_lines_leave_out_what_the_lambda_log_stream_states():
    buffer = io.StringIO()
    logger = get_logger(_service(), stream=buffer)
    logger.append_keys(cold_start=True, function_arn="arn:aws:lambda:ap-southeast-1:1:function:w")
    logger.info("review posted", extra={"tid": "1"})
    logger.remove_keys(["cold_start", "function_arn"])

    (line,) = _lines(buffer)
    assert line["message"] == "review posted" and line["tid"] == "1" and "level" in line
    assert not {"function_arn", "function_memory_size", "cold_start", "service"} & set(line)


def test_a_logger_built_again_after_a_reset_writes_each_line_once():
    service = _service()
    buffer = io.StringIO()
    first = get_logger(service, stream=buffer)
    reset()  # the container is forgotten; the loggers are built again by whoever asks next
    again = get_logger(service, stream=io.StringIO())

    first.info("before")
    again.info("after")
    get_logger(service).warning("once more")

    assert [line["message"] for line in _lines(buffer)] == ["before", "after", "once more"]
    assert len(logging.getLogger(service).handlers) == 1
    assert isinstance(again.registered_formatter, RedactingFormatter)


def test_refuses_a_service_logger_already_configured_without_redaction():
    service = _service()
    Logger(service=service, stream=io.StringIO())

    with pytest.raises(RuntimeError):
        get_logger(service)
