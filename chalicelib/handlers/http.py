"""The HTTP surface's shared shapes: one JSON error body, and the seller derived from the session token."""

from __future__ import annotations

from chalice import Response

from chalicelib.config import clock
from chalicelib.container import container
from chalicelib.security.signed_tokens import TokenRejected, verify

SESSION_PURPOSE = "seller_session"
SESSION_COOKIE = "hp_session"


def error_response(status: int, code: str, message: str, fields: dict | None = None) -> Response:
    """``{"error": {"code", "message", "fields"?}}`` with ``status``."""
    body: dict = {"error": {"code": code, "message": message}}
    if fields:
        body["error"]["fields"] = fields
    return Response(body=body, status_code=status, headers={"Content-Type": "application/json"})


class NotAuthenticated(Exception):
    """No valid seller session on the request (answered with 401)."""


def _bearer(request) -> str | None:
    headers = request.headers or {}
    auth = headers.get("authorization") or headers.get("Authorization") or ""
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    for part in (headers.get("cookie") or "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == SESSION_COOKIE and value:
            return value
    return None


def seller_of(request) -> str:
    """The seller id carried by the request's session token; every seller route derives its tenant from here."""
    token = _bearer(request)
    if not token:
        raise NotAuthenticated("missing seller session token")
    try:
        claims = verify(container().session_secret(), token, purpose=SESSION_PURPOSE, now=clock.now())
    except TokenRejected as exc:
        raise NotAuthenticated(f"session token rejected: {exc.reason}") from None
    return claims.subject
