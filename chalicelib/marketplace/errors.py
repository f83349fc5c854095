"""Marketplace error taxonomy: every failure the marketplace can report, as a type.

``classify`` is the one place where TOP error codes and sub_codes are mapped to types, through ``SUB_CODES``, the one
table of sub_codes, which says for each entry whether a public source confirms it; the client, the OAuth client and
the sandbox all use the constants defined here so both sides agree. Callers treat an error whose sub_code is not
confirmed (``MarketplaceError.confirmed``) as a hint: the review worker reads the rating back before it believes one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum


class TopCode(IntEnum):
    """Top-level TOP error codes (platform documentation)."""

    UPLOAD_FAIL = 3
    USER_CALL_LIMITED = 4
    SESSION_CALL_LIMITED = 5
    PARTNER_CALL_LIMITED = 6
    APP_CALL_LIMITED = 7
    APP_CALL_FREQUENCY_EXCEEDED = 8
    HTTP_ACTION_NOT_ALLOWED = 9
    SERVICE_UNAVAILABLE = 10
    INSUFFICIENT_ISV_PERMISSIONS = 11
    INSUFFICIENT_USER_PERMISSIONS = 12
    INSUFFICIENT_PARTNER_PERMISSIONS = 13
    REMOTE_SERVICE_ERROR = 15
    MISSING_METHOD = 21
    INVALID_METHOD = 22
    INVALID_FORMAT = 23
    MISSING_SIGNATURE = 24
    INVALID_SIGNATURE = 25
    MISSING_SESSION = 26
    INVALID_SESSION = 27
    MISSING_APP_KEY = 28
    INVALID_APP_KEY = 29
    MISSING_TIMESTAMP = 30
    INVALID_TIMESTAMP = 31
    MISSING_VERSION = 32
    INVALID_VERSION = 33
    UNSUPPORTED_VERSION = 34
    MISSING_REQUIRED_ARGUMENTS = 40
    INVALID_ARGUMENTS = 41
    FORBIDDEN_REQUEST = 42
    PARAMETER_ERROR = 43


# Sub_codes the code names (the sandbox answers them too). Whether a public source confirms each is in SUB_CODES.
SUB_APP_ACCESS_LIMITED = "accesscontrol.limited-by-app-access-count"
SUB_INVALID_SESSION = "invalid-sessionkey"
SUB_SESSION_EXPIRED = "session-expired"
SUB_INVALID_PARAMETER = "isv.invalid-parameter"
SUB_MISSING_PARAMETER = "isv.missing-parameter"
SUB_REMOTE_SERVICE_ERROR = "isp.remote-service-error"
SUB_RATE_SERVICE_ERROR = "isv.rate-service-error"  # prefix of the rating service's own codes (":-1020", ...)
SUB_RATE_PERIOD_EXPIRED = "isv.rate-service-error:-1020"
SUB_RATE_ALREADY_EXIST = "isv.rate-already-exist"
SUB_EXPLAIN_ALREADY_EXIST = "isv.explain-already-exist"
SUB_RATE_WINDOW_CLOSED = "isv.rate-window-closed"
SUB_TRADE_NOT_FINISHED = "isv.trade-not-finished"
SUB_TRADE_NOT_EXIST = "isv.trade-not-exist"
SUB_REFRESH_TOKEN_INVALID = "isv.refresh-token-invalid"

# Failures detected on our side of the wire carry a ``client.`` sub_code; they never come from TOP.
SUB_CLIENT_TRANSPORT = "client.transport-error"
SUB_CLIENT_HTTP_STATUS = "client.http-status"
SUB_CLIENT_MALFORMED = "client.malformed-response"

BAN_MESSAGE = "This ban will last for {seconds} more seconds"
_BAN_SECONDS = re.compile(r"ban will last for (\d+) more seconds")


class MarketplaceError(Exception):
    """Base of every marketplace failure; carries the TOP error envelope fields."""

    def __init__(
        self,
        code: int | None,
        msg: str = "",
        sub_code: str | None = None,
        sub_msg: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(code, msg, sub_code, sub_msg, request_id)
        self.code = code
        self.msg = msg
        self.sub_code = sub_code
        self.sub_msg = sub_msg
        self.request_id = request_id

    @property
    def confirmed(self) -> bool:
        """False when the type rests on a sub_code no public source confirms (see ``SUB_CODES``)."""
        entry = sub_code_entry(self.sub_code)
        return entry is None or entry.source != ASSUMED

    def __str__(self) -> str:
        parts = [f"code={self.code}", self.msg]
        if self.sub_code:
            parts.append(f"sub_code={self.sub_code}")
        if self.sub_msg:
            parts.append(self.sub_msg)
        return " ".join(p for p in parts if p)


class Throttled(MarketplaceError):
    """Call limits hit; ``ban_seconds`` says how long the platform will refuse calls, when it says so."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.ban_seconds = parse_ban_seconds(self.sub_msg)


class SessionInvalid(MarketplaceError):
    """The seller's session is missing, invalid or expired: the seller must be re-authorized."""


class PermissionDenied(MarketplaceError):
    """The app or the seller lacks the permission for this API."""


class RequestRejected(MarketplaceError):
    """The request itself is wrong (method, signature, app key, timestamp): a configuration fault."""


class BusinessError(MarketplaceError):
    """A business rule refused the call (``isv.*``); retrying will not change the answer."""


class AlreadyRated(BusinessError):
    """The trade (or sub-order) already carries the rating or reply being posted."""


class RateWindowClosed(BusinessError):
    """The rating or reply window of the order has passed."""


class TradeNotFinished(BusinessError):
    """The trade is not in a state that can be rated yet."""


class TradeNotFound(BusinessError):
    """The trade, sub-order or rating does not exist for this seller."""


class InvalidArgument(BusinessError):
    """Missing or invalid arguments (codes 40/41/43, ``isv.invalid-parameter*``)."""


class GrantRefused(BusinessError):
    """The platform refused to refresh the seller's grant (revoked, expired or spent): only the seller can fix it,
    by authorizing again."""


class Transient(MarketplaceError):
    """Network failure, timeout, 5xx, platform-side error or malformed response: safe to retry later."""


class OAuthError(MarketplaceError):
    """The OAuth server refused the request; ``error`` holds the OAuth error name (e.g. invalid_grant)."""

    @property
    def error(self) -> str | None:
        return self.sub_code


_THROTTLE_CODES = {
    TopCode.USER_CALL_LIMITED,
    TopCode.SESSION_CALL_LIMITED,
    TopCode.PARTNER_CALL_LIMITED,
    TopCode.APP_CALL_LIMITED,
    TopCode.APP_CALL_FREQUENCY_EXCEEDED,
}
_SESSION_CODES = {TopCode.MISSING_SESSION, TopCode.INVALID_SESSION}
_PERMISSION_CODES = {
    TopCode.INSUFFICIENT_ISV_PERMISSIONS,
    TopCode.INSUFFICIENT_USER_PERMISSIONS,
    TopCode.INSUFFICIENT_PARTNER_PERMISSIONS,
}
_ARGUMENT_CODES = {TopCode.MISSING_REQUIRED_ARGUMENTS, TopCode.INVALID_ARGUMENTS, TopCode.PARAMETER_ERROR}
_REJECTED_CODES = {
    TopCode.UPLOAD_FAIL,
    TopCode.HTTP_ACTION_NOT_ALLOWED,
    TopCode.MISSING_METHOD,
    TopCode.INVALID_METHOD,
    TopCode.INVALID_FORMAT,
    TopCode.MISSING_SIGNATURE,
    TopCode.INVALID_SIGNATURE,
    TopCode.MISSING_APP_KEY,
    TopCode.INVALID_APP_KEY,
    TopCode.MISSING_TIMESTAMP,
    TopCode.INVALID_TIMESTAMP,
    TopCode.MISSING_VERSION,
    TopCode.INVALID_VERSION,
    TopCode.UNSUPPORTED_VERSION,
    TopCode.FORBIDDEN_REQUEST,
}

# Where a sub_code's meaning comes from: the platform's public documentation, public client code of other apps
# (SDKs and ISV code mapping it), or our assumption (no public source; the sandbox answers it so the code has one).
DOCUMENTED = "documented"
PUBLIC_CODE = "public code"
ASSUMED = "assumed"


@dataclass(frozen=True)
class SubCode:
    """What a sub_code means (the error type it raises) and which source says so; ``prefix`` entries match
    every sub_code that starts with them (``isv.invalid-parameter:content``)."""

    error: type[MarketplaceError]
    source: str
    prefix: bool = False


# The one table of sub_codes. Codes not listed fall back to the top-level code and the isp./isv. conventions.
SUB_CODES: dict[str, SubCode] = {
    "accesscontrol.": SubCode(Throttled, DOCUMENTED, prefix=True),
    SUB_INVALID_SESSION: SubCode(SessionInvalid, DOCUMENTED, prefix=True),
    SUB_INVALID_PARAMETER: SubCode(InvalidArgument, DOCUMENTED, prefix=True),
    SUB_MISSING_PARAMETER: SubCode(InvalidArgument, DOCUMENTED, prefix=True),
    "isv.permission-": SubCode(PermissionDenied, DOCUMENTED, prefix=True),
    "isp.": SubCode(Transient, DOCUMENTED, prefix=True),
    # Public ISV code maps this one to "the rating period is over" (TradeRatingValidityExpiryException).
    SUB_RATE_PERIOD_EXPIRED: SubCode(RateWindowClosed, PUBLIC_CODE),
    # Any other answer of the rating service is a business refusal whose meaning nobody published.
    SUB_RATE_SERVICE_ERROR: SubCode(BusinessError, PUBLIC_CODE, prefix=True),
    SUB_RATE_ALREADY_EXIST: SubCode(AlreadyRated, ASSUMED),
    SUB_EXPLAIN_ALREADY_EXIST: SubCode(AlreadyRated, ASSUMED),
    SUB_RATE_WINDOW_CLOSED: SubCode(RateWindowClosed, ASSUMED),
    SUB_TRADE_NOT_FINISHED: SubCode(TradeNotFinished, ASSUMED),
    SUB_TRADE_NOT_EXIST: SubCode(TradeNotFound, ASSUMED),
    SUB_REFRESH_TOKEN_INVALID: SubCode(InvalidArgument, ASSUMED),
}


def sub_code_entry(sub_code: str | None) -> SubCode | None:
    """The table entry for ``sub_code``: the exact one, else the longest prefix entry it starts with."""
    if not sub_code:
        return None
    exact = SUB_CODES.get(sub_code)
    if exact is not None:
        return exact
    prefixes = [key for key, entry in SUB_CODES.items() if entry.prefix and sub_code.startswith(key)]
    return SUB_CODES[max(prefixes, key=len)] if prefixes else None


def parse_ban_seconds(sub_msg: str | None) -> int | None:
    """Seconds from "This ban will last for N more seconds", or None when the message does not say."""
    match = _BAN_SECONDS.search(sub_msg or "")
    return int(match.group(1)) if match else None


def _as_code(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


def _error_type(code: int | None, sub_code: str) -> type[MarketplaceError]:
    # Order matters: a throttling or session answer wins over the business meaning it travels with.
    entry = sub_code_entry(sub_code)
    if code in _THROTTLE_CODES or (entry is not None and entry.error is Throttled):
        return Throttled
    if code in _SESSION_CODES or SUB_INVALID_SESSION in sub_code or SUB_SESSION_EXPIRED in sub_code:
        return SessionInvalid
    if code in _PERMISSION_CODES:
        return PermissionDenied
    if entry is not None:
        return entry.error
    if code in _ARGUMENT_CODES:
        return InvalidArgument
    if code == TopCode.SERVICE_UNAVAILABLE:
        return Transient
    if sub_code.startswith("isv."):
        return BusinessError
    if code in _REJECTED_CODES:
        return RequestRejected
    return MarketplaceError


def classify(error_response: Mapping[str, object]) -> MarketplaceError:
    """Turn a TOP ``error_response`` (inner dict, or the whole envelope) into the matching error type."""
    inner = error_response.get("error_response", error_response)
    if not isinstance(inner, Mapping):
        return Transient(None, "malformed error response", SUB_CLIENT_MALFORMED)
    code = _as_code(inner.get("code"))
    sub_code = str(inner.get("sub_code") or "")
    error_type = _error_type(code, sub_code)
    return error_type(
        code,
        str(inner.get("msg") or ""),
        sub_code or None,
        _optional_str(inner.get("sub_msg")),
        _optional_str(inner.get("request_id")),
    )


def classify_http_status(status: int) -> MarketplaceError:
    """Error for an HTTP failure without a TOP envelope: 5xx is transient, 429 throttled, others rejected."""
    msg = f"HTTP {status}"
    if status >= 500:
        return Transient(None, msg, SUB_CLIENT_HTTP_STATUS)
    if status == 429:
        return Throttled(None, msg, SUB_CLIENT_HTTP_STATUS)
    return RequestRejected(None, msg, SUB_CLIENT_HTTP_STATUS)


def classify_oauth(status: int, body: Mapping[str, object] | None) -> MarketplaceError:
    """Error for a failed OAuth token call: an OAuth error body is ``OAuthError``, otherwise by HTTP status."""
    if status >= 500 or not body or "error" not in body:
        if status == 200:
            return Transient(None, "unreadable OAuth response", SUB_CLIENT_MALFORMED)
        return classify_http_status(status)
    return OAuthError(
        None,
        str(body.get("error_description") or ""),
        str(body["error"]),
        _optional_str(body.get("error_description")),
        _optional_str(body.get("request_id")),
    )


def _optional_str(value: object) -> str | None:
    return None if value is None else str(value)
