"""Verification of pushed webhooks (marketplace messages, billing callbacks), TOP style.

The sender puts ``app_key``, ``timestamp``, ``sign_method`` and ``sign`` in the query string; ``sign``
covers every other query parameter followed by the raw body, computed with the app secret by
``marketplace.signing``. Checks run cheapest first and stop at the first failure: body size, presence
of a signature, app key, timestamp freshness, sign method and signature.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from chalicelib.domain.market_time import MarketTimeInvalid, parse_market_value
from chalicelib.marketplace import signing

_DEFAULT_SIGN_METHOD = "md5"  # TOP's default when the sender omits sign_method


class PushRejected(Exception):
    """The push must not be processed; ``status`` is the HTTP status to answer with."""

    def __init__(self, reason: str, status: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


def verify_push(
    query: Mapping[str, str] | None,
    raw_body: bytes,
    *,
    app_key: str,
    secret: str,
    now: datetime,
    tolerance_seconds: int = 300,
    max_body_bytes: int = 1_048_576,
) -> None:
    """Return if the push is authentic and fresh, else raise ``PushRejected``.

    413 for a body over ``max_body_bytes``; 400 for a missing or unparseable timestamp; 401 for a
    missing signature, another app's key, a timestamp more than ``tolerance_seconds`` away from
    ``now`` (either way), an unsupported sign_method or a signature mismatch. A missing
    sign_method means md5, as on the platform.
    """
    if not app_key or not secret:
        raise ValueError("app_key and secret must be configured")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if len(raw_body) > max_body_bytes:
        raise PushRejected(f"body larger than {max_body_bytes} bytes", 413)
    params = dict(query or {})
    signature = params.get("sign")
    if not signature:
        raise PushRejected("missing signature", 401)
    if params.get("app_key") != app_key:
        raise PushRejected("unknown app_key", 401)
    sent_at = parse_top_timestamp(params.get("timestamp"))
    if sent_at is None:
        raise PushRejected("missing or unparseable timestamp", 400)
    if abs((now - sent_at).total_seconds()) > tolerance_seconds:
        raise PushRejected(f"timestamp outside {tolerance_seconds}s tolerance", 401)
    method = params.get("sign_method") or _DEFAULT_SIGN_METHOD
    if method not in signing.SIGN_METHODS:
        raise PushRejected("unsupported sign_method", 401)
    if not signing.verify(params, secret, signature, method, body=raw_body):
        raise PushRejected("signature mismatch", 401)


def parse_top_timestamp(value: str | None) -> datetime | None:
    """Parse ``YYYY-MM-DD HH:MM:SS`` (GMT+8) or epoch milliseconds into an aware UTC datetime; None if neither."""
    try:
        return parse_market_value(value or None)
    except MarketTimeInvalid:
        return None
