"""Expiring, purpose-bound HMAC-SHA256 tokens (seller sessions, OAuth ``state``).

Format: ``base64url(payload JSON) "." base64url(HMAC-SHA256(secret, first part))``, without padding.
The MAC covers the transmitted text of the payload, and the signature is compared as text, so any
change to any character of a token is rejected.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

MAX_TOKEN_CHARS = 4096


class TokenRejected(Exception):
    """The token cannot be trusted; ``reason`` says why (safe to log, never contains the token)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class TokenClaims:
    """What a verified token asserts."""

    subject: str
    nonce: str
    issued_at: datetime
    expires_at: datetime


def issue(
    secret: bytes,
    *,
    purpose: str,
    subject: str,
    now: datetime,
    ttl_seconds: int,
    nonce: str | None = None,
) -> str:
    """Return a token for ``subject`` valid for ``purpose`` from ``now`` for ``ttl_seconds``.

    Without ``nonce`` a random one is drawn, so two tokens are never equal and an OAuth ``state``
    cannot be guessed.
    """
    if not secret:
        raise ValueError("token secret is empty")
    if not purpose:
        raise ValueError("purpose is required")
    if ttl_seconds <= 0:
        raise ValueError("ttl_seconds must be positive")
    issued_at = _epoch(now)
    payload = {
        "purpose": purpose,
        "sub": subject,
        "iat": issued_at,
        "exp": issued_at + ttl_seconds,
        "nonce": secrets.token_urlsafe(16) if nonce is None else nonce,
    }
    body = _b64(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    return f"{body}.{_signature(secret, body)}"


def verify(secret: bytes, token: str, *, purpose: str, now: datetime) -> TokenClaims:
    """Return the claims of ``token``, or raise ``TokenRejected``.

    Reasons: ``malformed``, ``bad signature``, ``wrong purpose``, ``expired`` (at or after ``exp``).
    The signature is checked before the payload is parsed.
    """
    if not secret:
        raise ValueError("token secret is empty")
    current = _epoch(now)
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS or not token.isascii():
        raise TokenRejected("malformed")
    body, dot, signature = token.partition(".")
    if not dot or not body or "." in signature:
        raise TokenRejected("malformed")
    if not hmac.compare_digest(_signature(secret, body).encode("ascii"), signature.encode("ascii")):
        raise TokenRejected("bad signature")
    try:
        payload = json.loads(_unb64(body))
        token_purpose = payload["purpose"]
        claims = TokenClaims(
            subject=_text(payload["sub"]),
            nonce=_text(payload["nonce"]),
            issued_at=_from_epoch(payload["iat"]),
            expires_at=_from_epoch(payload["exp"]),
        )
    except (ValueError, KeyError, TypeError, OverflowError, OSError) as exc:
        raise TokenRejected("malformed") from exc
    if token_purpose != purpose:
        raise TokenRejected("wrong purpose")
    if current >= int(claims.expires_at.timestamp()):
        raise TokenRejected("expired")
    return claims


def _signature(secret: bytes, body: str) -> str:
    return _b64(hmac.new(secret, body.encode("ascii"), hashlib.sha256).digest())


def _epoch(now: datetime) -> int:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return int(now.timestamp())


def _from_epoch(value: object) -> datetime:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError("timestamp must be an integer")
    return datetime.fromtimestamp(value, tz=UTC)


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError("claim must be a string")
    return value


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
