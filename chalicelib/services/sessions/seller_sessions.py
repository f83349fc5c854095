"""Use cases: a seller's sessions — started by an authorization or a one-time login link, checked on every request,
ended by the seller (log out) or by an operator (revoke).

A session is a signed token (``seller_session``, 12 hours) carried in the HttpOnly ``hp_session`` cookie or as a
bearer token. Ending sessions is one write on the seller (``sessions_valid_after``): every session issued at or
before that second is refused from then on, on every device; other containers see it within their seller cache's
minute. A login link (``login_link`` token, for the local stack's commands and support) is exchanged once for a
session: its nonce is claimed with a conditional write, so a second use, or a copy of the link, is refused.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from chalicelib.container import container
from chalicelib.security.signed_tokens import TokenClaims, TokenRejected, issue, verify
from chalicelib.store import audit, control, seller_writes, sellers
from chalicelib.telemetry import count, logger

SESSION_PURPOSE = "seller_session"
SESSION_TTL = timedelta(hours=12)
LOGIN_PURPOSE = "login_link"
# A used link's marker outlives the link a little, so a clock skew between containers cannot reopen it.
_MARKER_GRACE = timedelta(hours=1)


class SessionRejected(Exception):
    """No valid session: ``reason`` is safe to show and log (it never contains the token)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Session:
    """A started session: the token to hand to the browser and when it expires."""

    seller_id: str
    token: str
    expires_at: datetime


def start(seller_id: str, *, now: datetime) -> Session:
    """A new session for the seller."""
    ttl = int(SESSION_TTL.total_seconds())
    token = issue(container().session_secret(), purpose=SESSION_PURPOSE, subject=seller_id, now=now, ttl_seconds=ttl)
    return Session(seller_id, token, now + SESSION_TTL)


def seller_of(token: str, *, now: datetime) -> str:
    """The seller a session token acts for; ``SessionRejected`` when it is forged, expired, for a seller the app
    no longer knows, or issued before the seller's sessions were ended."""
    try:
        claims = verify(container().session_secret(), token, purpose=SESSION_PURPOSE, now=now)
    except TokenRejected as exc:
        raise SessionRejected(f"session token rejected: {exc.reason}") from None
    seller = sellers.cached(claims.subject)
    if seller is None or seller.status == "purged":
        raise SessionRejected("session of an unknown seller")
    if _ended(claims, seller.sessions_valid_after):
        raise SessionRejected("session ended")
    return claims.subject


def _ended(claims: TokenClaims, valid_after: int | None) -> bool:
    return valid_after is not None and int(claims.issued_at.timestamp()) <= valid_after


def end_all(seller_id: str, *, now: datetime, actor: str) -> bool:
    """End every session of the seller (log out everywhere); False when there is no such seller."""
    if seller_writes.revoke_sessions(seller_id, now=now) is None:
        return False
    audit.append(seller_id, actor=actor, action="sessions.revoke", target=None, result="ok", detail=None, now=now)
    count("SessionsRevoked")
    logger.info("sessions ended", extra={"seller_id": seller_id, "actor": actor})
    return True


def login_link_code(seller_id: str, *, now: datetime, ttl: timedelta) -> str:
    """A one-time code for ``/login?code=…`` that starts a session for the seller once, within ``ttl``."""
    return issue(
        container().session_secret(),
        purpose=LOGIN_PURPOSE,
        subject=seller_id,
        now=now,
        ttl_seconds=int(ttl.total_seconds()),
    )


def seller_of_link(code: str, *, now: datetime) -> str:
    """The seller a login link's code would start a session for, without using it up; ``SessionRejected`` when
    the code is forged or expired (a used code is only found out by ``redeem``)."""
    try:
        return verify(container().session_secret(), code, purpose=LOGIN_PURPOSE, now=now).subject
    except TokenRejected as exc:
        raise SessionRejected(f"login link {exc.reason}") from None


def shop_name(seller_id: str) -> str:
    """The shop's name as the seller knows it (its nick), for the page that asks before switching shops."""
    seller = sellers.cached(seller_id)
    return (seller.nick if seller is not None else "") or seller_id


def switch_proof(current_token: str, code: str) -> str:
    """What the browser signed in with ``current_token`` shows to let ``code`` replace that session: only the page
    we served to that browser holds it, so no link or foreign page can switch a signed-in seller by itself."""
    message = f"switch\n{current_token}\n{code}".encode()
    return hmac.new(container().session_secret(), message, hashlib.sha256).hexdigest()[:32]


def switch_allowed(current_token: str, code: str, proof: str | None) -> bool:
    """Whether ``proof`` is the ``switch_proof`` of this session and code."""
    return bool(proof) and hmac.compare_digest(switch_proof(current_token, code), proof or "")


def redeem(code: str, *, now: datetime) -> Session:
    """Exchange a login link's code for a new session, once; ``SessionRejected`` for a forged, expired or used
    code, or a seller the app no longer knows."""
    try:
        claims = verify(container().session_secret(), code, purpose=LOGIN_PURPOSE, now=now)
    except TokenRejected as exc:
        raise SessionRejected(f"login link {exc.reason}") from None
    seller = sellers.get(claims.subject)
    if seller is None or seller.status == "purged" or _ended(claims, seller.sessions_valid_after):
        raise SessionRejected("login link of an unknown seller or ended sessions")
    if not control.claim_once(f"login#{claims.nonce}", now=now, expire_at=claims.expires_at + _MARKER_GRACE):
        count("LoginLinkReused")
        raise SessionRejected("login link already used")
    count("LoginLinkRedeemed")
    return start(claims.subject, now=now)
