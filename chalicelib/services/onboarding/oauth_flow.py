"""Use case: a seller authorizes the app through the marketplace's OAuth flow.

``begin`` makes the marketplace authorize URL with a ``state`` that is a signed, expiring token (purpose
``oauth_state``) carrying a random nonce; the same nonce is handed to the browser that started the flow
(the HTTP edge sets it as a cookie). ``complete`` accepts a state only if it carries our signature, has not
expired, is presented by the browser it was issued to, and was never used before (a once-marker in the
Control table) — so a forged, stale, replayed or planted state is refused before the code is exchanged.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from chalicelib.container import container
from chalicelib.marketplace.errors import MarketplaceError, OAuthError
from chalicelib.security.signed_tokens import TokenRejected, issue, verify
from chalicelib.services.onboarding.onboard_seller import onboard
from chalicelib.services.onboarding.seller_install import after_authorization
from chalicelib.store import control, sellers
from chalicelib.telemetry import count, logger

STATE_PURPOSE = "oauth_state"
STATE_TTL = timedelta(minutes=10)
CALLBACK_PATH = "/oauth/callback"
# The once-marker outlives the state a little, so a clock skew between containers cannot reopen it.
_MARKER_GRACE = timedelta(hours=1)


class StateRejected(Exception):
    """The callback's ``state`` cannot be trusted; ``reason`` is safe to show and log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AuthorizationFailed(Exception):
    """The marketplace refused the authorization code; ``error`` is its OAuth error name."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


class MarketplaceUnavailable(Exception):
    """The code could not be exchanged for a reason on the marketplace's side; the seller may start again."""


@dataclass(frozen=True)
class AuthorizationStart:
    """Where to send the seller, and the nonce the browser must present at the callback."""

    url: str
    nonce: str
    expires_at: datetime


def _secret() -> bytes:
    return container().session_secret()


def redirect_uri() -> str:
    """The callback URL registered with the marketplace (``HAOPING_PUBLIC_URL`` + the callback path)."""
    return container().settings.public_url.rstrip("/") + CALLBACK_PATH


def begin(*, now: datetime) -> AuthorizationStart:
    """Start an authorization: the marketplace URL with a fresh signed ``state``."""
    nonce = secrets.token_urlsafe(24)
    ttl = int(STATE_TTL.total_seconds())
    state = issue(_secret(), purpose=STATE_PURPOSE, subject="authorize", now=now, ttl_seconds=ttl, nonce=nonce)
    url = container().oauth().authorize_url(redirect_uri(), state)
    count("OAuthStarted")
    return AuthorizationStart(url, nonce, now + STATE_TTL)


def check_state(state: str, *, browser_nonce: str | None, now: datetime) -> None:
    """Accept ``state`` once, or raise ``StateRejected`` (forged, expired, from another browser, replayed)."""
    try:
        claims = verify(_secret(), state, purpose=STATE_PURPOSE, now=now)
    except TokenRejected as exc:
        raise StateRejected(f"state {exc.reason}") from None
    if not browser_nonce or not hmac.compare_digest(browser_nonce.encode(), claims.nonce.encode()):
        raise StateRejected("state was not issued to this browser")
    marker = f"oauth_state#{claims.nonce}"
    if not control.claim_once(marker, now=now, expire_at=claims.expires_at + _MARKER_GRACE):
        raise StateRejected("state was already used")


def complete(code: str, state: str, *, browser_nonce: str | None, now: datetime) -> str:
    """Finish an authorization: check ``state``, exchange ``code``, create or update the seller, permit its
    messages and start the backfill of its recent trades (``seller_install``); its id.

    The state is spent before the code is exchanged, so a failed exchange means starting again (the
    code is single-use on the marketplace anyway).
    """
    try:
        check_state(state, browser_nonce=browser_nonce, now=now)
    except StateRejected as exc:
        count("OAuthStateRejected")
        logger.warning("oauth state rejected", extra={"reason": exc.reason})
        raise
    try:
        grant = container().oauth().exchange_code(code, redirect_uri())
    except OAuthError as exc:
        count("OAuthCodeRefused")
        logger.warning("oauth code refused", extra={"error": exc.error})
        raise AuthorizationFailed(exc.error or "oauth_error") from None
    except MarketplaceError as exc:
        count("OAuthExchangeFailed")
        logger.warning("oauth exchange failed", extra={"error": type(exc).__name__})
        raise MarketplaceUnavailable(type(exc).__name__) from None
    before = sellers.get(str(grant.taobao_user_id))
    seller_id = onboard(grant, now=now)
    after_authorization(seller_id, previous_status=before.status if before else None, now=now)
    count("OAuthCompleted")
    return seller_id
