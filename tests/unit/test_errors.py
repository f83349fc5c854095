"""The one mapping from TOP error envelopes (and HTTP/OAuth failures) to error types."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.marketplace import errors
from chalicelib.marketplace.errors import (
    AlreadyRated,
    BusinessError,
    InvalidArgument,
    MarketplaceError,
    OAuthError,
    PermissionDenied,
    RateWindowClosed,
    RequestRejected,
    SessionInvalid,
    Throttled,
    TradeNotFinished,
    TradeNotFound,
    Transient,
    classify,
    classify_http_status,
    classify_oauth,
)


@pytest.mark.parametrize(
    ("code", "sub_code", "expected"),
    [
        (7, "accesscontrol.limited-by-app-access-count", Throttled),
        (4, None, Throttled),
        (5, None, Throttled),
        (6, None, Throttled),
        (8, None, Throttled),
        (15, "accesscontrol.limited-by-api-access-count", Throttled),
        (26, None, SessionInvalid),
        (27, "invalid-sessionkey", SessionInvalid),
        (15, "isv.session-expired", SessionInvalid),
        (11, None, PermissionDenied),
        (12, "isv.permission-api-package-limit", PermissionDenied),
        (15, errors.SUB_RATE_ALREADY_EXIST, AlreadyRated),
        (15, errors.SUB_EXPLAIN_ALREADY_EXIST, AlreadyRated),
        (15, errors.SUB_RATE_WINDOW_CLOSED, RateWindowClosed),
        (15, errors.SUB_TRADE_NOT_FINISHED, TradeNotFinished),
        (15, errors.SUB_TRADE_NOT_EXIST, TradeNotFound),
        (15, errors.SUB_RATE_PERIOD_EXPIRED, RateWindowClosed),
        (15, "isv.rate-service-error:-9999", BusinessError),
        (15, errors.SUB_REFRESH_TOKEN_INVALID, InvalidArgument),
        (13, None, PermissionDenied),
        (23, None, RequestRejected),
        (32, None, RequestRejected),
        (33, None, RequestRejected),
        (34, None, RequestRejected),
        (40, None, InvalidArgument),
        (41, "isv.invalid-parameter:content", InvalidArgument),
        (43, None, InvalidArgument),
        (15, "isv.invalid-parameter", InvalidArgument),
        (15, "isv.missing-parameter:tid", InvalidArgument),
        (15, "isv.something-new", BusinessError),
        (10, None, Transient),
        (15, "isp.top-remote-connection-timeout", Transient),
        (15, None, MarketplaceError),
        (22, None, RequestRejected),
        (25, None, RequestRejected),
        (29, None, RequestRejected),
        (31, None, RequestRejected),
        (999, None, MarketplaceError),
    ],
)
def test_classify_maps_codes_to_types(code: int, sub_code: str | None, expected: type) -> None:
    error = classify({"code": code, "msg": "m", "sub_code": sub_code, "sub_msg": "detail", "request_id": "r1"})
    assert type(error) is expected
    assert isinstance(error, MarketplaceError)
    assert (error.code, error.msg, error.sub_code, error.sub_msg, error.request_id) == (
        code,
        "m",
        sub_code,
        "detail",
        "r1",
    )


@pytest.mark.parametrize(
    ("sub_code", "confirmed"),
    [
        (errors.SUB_RATE_ALREADY_EXIST, False),
        (errors.SUB_RATE_WINDOW_CLOSED, False),
        (errors.SUB_TRADE_NOT_FINISHED, False),
        (errors.SUB_RATE_PERIOD_EXPIRED, True),
        ("isv.rate-service-error:-9999", True),
        ("isv.invalid-parameter:content", True),
        (errors.SUB_APP_ACCESS_LIMITED, True),
        ("isv.never-heard-of", True),
        (None, True),
    ],
)
def test_an_error_says_whether_a_public_source_confirms_its_meaning(sub_code: str | None, confirmed: bool) -> None:
    assert classify({"code": 15, "sub_code": sub_code}).confirmed is confirmed


def test_every_entry_of_the_sub_code_table_names_its_source() -> None:
    for sub_code, entry in errors.SUB_CODES.items():
        assert entry.source in (errors.DOCUMENTED, errors.PUBLIC_CODE, errors.ASSUMED), sub_code
        assert issubclass(entry.error, MarketplaceError)


def test_the_longest_prefix_entry_wins() -> None:
    assert errors.sub_code_entry("isv.rate-service-error:-1020").error is RateWindowClosed
    assert errors.sub_code_entry("isv.rate-service-error:-1").error is BusinessError
    assert errors.sub_code_entry("isv.other") is None


def test_business_errors_share_a_base() -> None:
    for kind in (AlreadyRated, RateWindowClosed, TradeNotFinished, TradeNotFound, InvalidArgument):
        assert issubclass(kind, BusinessError)


def test_classify_accepts_the_whole_envelope_and_string_codes() -> None:
    error = classify({"error_response": {"code": "7", "msg": "App Call Limited"}})
    assert isinstance(error, Throttled)
    assert error.code == 7


@given(st.integers(min_value=0, max_value=10**9))
def test_ban_seconds_are_read_from_sub_msg(seconds: int) -> None:
    error = classify(
        {
            "code": 7,
            "msg": "App Call Limited",
            "sub_code": "accesscontrol.limited-by-app-access-count",
            "sub_msg": f"This ban will last for {seconds} more seconds",
        }
    )
    assert isinstance(error, Throttled)
    assert error.ban_seconds == seconds


def test_ban_seconds_is_none_when_not_stated() -> None:
    error = classify({"code": 7, "msg": "App Call Limited", "sub_msg": "slow down"})
    assert isinstance(error, Throttled)
    assert error.ban_seconds is None


def test_errors_survive_pickling() -> None:
    error = classify(
        {"code": 7, "sub_code": errors.SUB_APP_ACCESS_LIMITED, "sub_msg": "ban will last for 9 more seconds"}
    )
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is Throttled
    assert copy.ban_seconds == 9


def test_str_names_the_code_without_secrets() -> None:
    text = str(classify({"code": 27, "msg": "Invalid session", "sub_code": "invalid-sessionkey"}))
    assert "27" in text
    assert "invalid-sessionkey" in text


@pytest.mark.parametrize(
    ("status", "expected"), [(500, Transient), (503, Transient), (429, Throttled), (404, RequestRejected)]
)
def test_http_status_without_envelope(status: int, expected: type) -> None:
    error = classify_http_status(status)
    assert type(error) is expected
    assert error.sub_code == errors.SUB_CLIENT_HTTP_STATUS


def test_oauth_errors() -> None:
    refused = classify_oauth(400, {"error": "invalid_grant", "error_description": "code used"})
    assert isinstance(refused, OAuthError)
    assert refused.error == "invalid_grant"
    assert isinstance(classify_oauth(502, None), Transient)
    assert isinstance(classify_oauth(200, None), Transient)
    assert isinstance(classify_oauth(404, None), RequestRejected)
