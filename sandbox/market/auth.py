"""Sandbox sellers and their authorizations: OAuth codes, sessions (access tokens), refresh tokens, and which
sellers' messages the app may receive (``taobao.tmc.user.permit``).

Assumptions where the platform is not documented: a refresh (``taobao.top.auth.token.refresh``) issues a new access
token and a new refresh token with the old one's remaining lifetime, and the old refresh token dies (so an app that
keeps the old one finds out here); earlier access tokens stay valid until they expire. A refused refresh answers
code 15 with ``isv.refresh-token-invalid`` (the platform's sub_code is not documented).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

from chalicelib.marketplace.errors import SUB_REFRESH_TOKEN_INVALID
from sandbox.market.protocol import business, invalid_session

CODE_TTL = timedelta(minutes=10)


@dataclass(frozen=True)
class SellerAccount:
    """A seller known to the sandbox, with the tokens of its latest authorization."""

    user_id: str
    nick: str
    access_token: str
    refresh_token: str


class OAuthRefusal(Exception):
    """An OAuth error answer: HTTP ``status`` with ``{"error", "error_description"}``."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(status, error, description)
        self.status = status
        self.error = error
        self.description = description

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


@dataclass
class _Seller:
    user_id: str
    nick: str
    refreshable: bool
    revoked: bool = False


@dataclass(frozen=True)
class _Token:
    nick: str
    expires_at: datetime


@dataclass(frozen=True)
class _Code:
    nick: str
    redirect_uri: str
    expires_at: datetime


class AuthStore:
    """Thread-safe registry of sellers and tokens, with expiry measured on the injected clock."""

    def __init__(
        self,
        clock: Callable[[], datetime],
        rng: random.Random,
        *,
        session_ttl_seconds: int,
        refresh_ttl_seconds: int,
    ) -> None:
        self._clock = clock
        self._rng = rng
        self._session_ttl = timedelta(seconds=session_ttl_seconds)
        self._refresh_ttl = timedelta(seconds=refresh_ttl_seconds)
        self._lock = threading.Lock()
        self._sellers: dict[str, _Seller] = {}
        self._sessions: dict[str, _Token] = {}
        self._refresh: dict[str, _Token] = {}
        self._codes: dict[str, _Code] = {}
        # Sellers whose messages the app receives: nick → the permitted topics (None: every topic of the app).
        self._permits: dict[str, frozenset[str] | None] = {}
        self._next_user_id = 2_200_000_001

    def _token(self, prefix: str) -> str:
        return f"{prefix}{self._rng.getrandbits(128):032x}"

    def _seller(self, nick: str, refreshable: bool = True) -> _Seller:
        seller = self._sellers.get(nick)
        if seller is None:
            seller = _Seller(str(self._next_user_id), nick, refreshable)
            self._next_user_id += 1
            self._sellers[nick] = seller
        return seller

    def _issue(self, seller: _Seller) -> tuple[str, str]:
        now = self._clock()
        access = self._token("6201")
        self._sessions[access] = _Token(seller.nick, now + self._session_ttl)
        refresh = ""
        if seller.refreshable:
            refresh = self._token("6202")
            self._refresh[refresh] = _Token(seller.nick, now + self._refresh_ttl)
        return access, refresh

    def add_seller(self, nick: str, *, refreshable: bool = True) -> SellerAccount:
        """Register a seller who has already authorized the app; a nick can only be added once."""
        with self._lock:
            if nick in self._sellers:
                raise ValueError("seller already exists")
            seller = self._seller(nick, refreshable)
            access, refresh = self._issue(seller)
            return SellerAccount(seller.user_id, nick, access, refresh)

    def user_id(self, nick: str) -> str | None:
        with self._lock:
            seller = self._sellers.get(nick)
            return seller.user_id if seller else None

    def revoke(self, nick: str) -> None:
        """Make the seller's refresh fail (sessions already issued live until they expire)."""
        with self._lock:
            self._seller(nick).revoked = True

    def end_sessions(self, nick: str) -> None:
        """Invalidate every session of the seller now, as a cancelled authorization does."""
        with self._lock:
            for token in [t for t, s in self._sessions.items() if s.nick == nick]:
                del self._sessions[token]

    def session_nick(self, token: str) -> str:
        """The seller nick behind a live session, else code 27 ``invalid-sessionkey``."""
        with self._lock:
            session = self._sessions.get(token)
        if session is None:
            raise invalid_session("session key is unknown")
        if self._clock() >= session.expires_at:
            raise invalid_session("session key has expired")
        return session.nick

    def authorize(self, nick: str, redirect_uri: str) -> str:
        """The seller grants access: a single-use code bound to ``redirect_uri`` (the seller may be new)."""
        with self._lock:
            seller = self._seller(nick)
            seller.revoked = False
            code = self._token("code")
            self._codes[code] = _Code(nick, redirect_uri, self._clock() + CODE_TTL)
            return code

    def exchange(self, code: str, redirect_uri: str) -> dict:
        """Token response for an authorization code, which is consumed whatever the outcome."""
        with self._lock:
            grant = self._codes.pop(code, None)
            if grant is None or self._clock() >= grant.expires_at:
                raise OAuthRefusal(400, "invalid_grant", "authorization code is invalid or expired")
            if grant.redirect_uri != redirect_uri:
                raise OAuthRefusal(400, "invalid_grant", "redirect_uri does not match")
            seller = self._sellers[grant.nick]
            access, refresh = self._issue(seller)
            return self._response(seller, access, refresh)

    def refresh(self, refresh_token: str) -> dict:
        """The grant for a live refresh token of a seller who has not been revoked; the refresh token is spent."""
        with self._lock:
            held = self._refresh.pop(refresh_token, None)
            now = self._clock()
            if held is None or now >= held.expires_at or self._sellers[held.nick].revoked:
                raise business(SUB_REFRESH_TOKEN_INVALID, "refresh token is invalid, expired or revoked")
            seller = self._sellers[held.nick]
            access = self._token("6201")
            self._sessions[access] = _Token(seller.nick, now + self._session_ttl)
            renewed = self._token("6202")
            self._refresh[renewed] = held
            return self._response(seller, access, renewed)

    def permit(self, nick: str, topics: tuple[str, ...] | None) -> None:
        """Open the seller's messages to the app (``topics`` replace the list; None: every topic of the app)."""
        with self._lock:
            self._permits[nick] = frozenset(topics) if topics else None

    def cancel_permit(self, nick: str) -> bool:
        """Stop the seller's messages; False when they were not open."""
        with self._lock:
            return self._permits.pop(nick, False) is not False

    def permitted(self, nick: str, topic: str | None = None) -> bool:
        """Whether a message of ``topic`` (of any topic, when None) about ``nick``'s shop reaches the app."""
        with self._lock:
            if nick not in self._permits:
                return False
            topics = self._permits[nick]
            return topics is None or topic is None or topic in topics

    def _response(self, seller: _Seller, access: str, refresh: str) -> dict:
        now = self._clock()
        expires_in = int(self._session_ttl.total_seconds())
        held = self._refresh.get(refresh)
        re_expires_in = int((held.expires_at - now).total_seconds()) if held else 0
        return {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": expires_in,
            "refresh_token": refresh,
            "re_expires_in": re_expires_in,
            "r1_expires_in": expires_in,
            "r2_expires_in": expires_in,
            "w1_expires_in": expires_in,
            "w2_expires_in": expires_in,
            "taobao_user_id": seller.user_id,
            "taobao_user_nick": quote(seller.nick),
            "sub_taobao_user_id": "",
            "sub_taobao_user_nick": "",
            "expire_time": int((now.timestamp() + expires_in) * 1000),
        }
