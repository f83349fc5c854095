"""OAuth 2 with the marketplace: the seller's authorization URL and the code exchange.

No retries here: an authorization code is single-use, so whether to try again is the caller's decision. Tokens are
refreshed through the TOP API (``TopClient.auth_token_refresh``), as the official SDKs do, not here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from urllib.parse import urlencode

import urllib3

from chalicelib.marketplace.errors import (
    SUB_CLIENT_MALFORMED,
    SUB_CLIENT_TRANSPORT,
    Transient,
    classify_oauth,
)
from chalicelib.marketplace.models import TokenGrant


class OAuthClient:
    """OAuth endpoints at ``{base_url}/authorize`` and ``{base_url}/token``."""

    def __init__(
        self,
        base_url: str,
        app_key: str,
        app_secret: str,
        now: Callable[[], datetime],
        pool: urllib3.PoolManager | None = None,
        *,
        connect_timeout: float = 2.0,
        read_timeout: float = 5.0,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._app_key = app_key
        self._secret = app_secret
        self._now = now
        self._pool = pool or urllib3.PoolManager(num_pools=1, retries=False)
        self._timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)

    def __repr__(self) -> str:
        return f"OAuthClient({self._base!r}, app_key={self._app_key!r})"

    def authorize_url(self, redirect_uri: str, state: str, *, view: str = "web") -> str:
        """Where to send the seller to grant access; the marketplace redirects back with ``code`` and ``state``."""
        query = {
            "response_type": "code",
            "client_id": self._app_key,
            "redirect_uri": redirect_uri,
            "state": state,
            "view": view,
        }
        return f"{self._base}/authorize?{urlencode(query)}"

    def exchange_code(self, code: str, redirect_uri: str) -> TokenGrant:
        """Trade an authorization code (single-use) for the seller's tokens."""
        return self._token(grant_type="authorization_code", code=code, redirect_uri=redirect_uri)

    def _token(self, **params: str) -> TokenGrant:
        form = {"client_id": self._app_key, "client_secret": self._secret, "view": "web", **params}

        try:
            response = self._pool.request(
                "POST",
                f"{self._base}/token",
                body=urlencode(form).encode("utf-8"),
                headers={"Content-Type": "application/x-www-form-urlencoded;charset=utf-8"},
                timeout=self._timeout,
                retries=False,
            )
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise Transient(None, f"{type(exc).__name__} calling OAuth token", SUB_CLIENT_TRANSPORT) from exc
        try:
            body = json.loads(response.data)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            body = None
        if response.status != 200 or body is None or "error" in body:
            raise classify_oauth(response.status, body)
        try:
            return TokenGrant.from_token_response(body, self._now())
        except (KeyError, TypeError, ValueError) as exc:
            raise Transient(None, "unreadable token response", SUB_CLIENT_MALFORMED) from exc
