"""The HTTP surface's shared shapes: one JSON error body, and the seller derived from the session token.

Every error the app answers has the shape ``{"error": {"code", "message", "fields"?}}``, including the ones
Chalice writes itself (a method the route lacks, which becomes the 404 API Gateway gives it deployed; 415 for a
content type it does not take; a 500 from a failing view): ``conform`` rewrites those, and ``no_route`` answers
any path the app does not have. Under API Gateway, requests that never reach the app (no such resource or method)
get the same shape from the template's gateway responses (``deploy/resources.json``). No error message quotes the
request.
"""

from __future__ import annotations

from chalice import Response

from chalicelib.container import container
from chalicelib.services.sessions import seller_sessions

SESSION_PURPOSE = seller_sessions.SESSION_PURPOSE
SESSION_COOKIE = "hp_session"


def error_response(
    status: int, code: str, message: str, fields: dict | None = None, *, headers: dict | None = None
) -> Response:
    """``{"error": {"code", "message", "fields"?}}`` with ``status``."""
    body: dict = {"error": {"code": code, "message": message}}
    if fields:
        body["error"]["fields"] = fields
    return Response(body=body, status_code=status, headers={**(headers or {}), "Content-Type": "application/json"})


# Chalice's own error codes → ours, with a message that does not repeat what the client sent.
_CHALICE_ERRORS = {
    "UnsupportedMediaType": ("unsupported_media_type", "this route does not take this Content-Type"),
    "BadRequestError": ("invalid_request", "the request is invalid"),
    "NotFoundError": ("not_found", "not found"),
    "InternalServerError": ("internal_error", "an internal error occurred"),
}


def conform(response: Response) -> Response:
    """``response``, or, when Chalice wrote it (``{"Code", "Message"}``), the same status in the one error shape.

    A method the route lacks is answered as API Gateway answers it deployed (its ``MISSING_AUTHENTICATION_TOKEN``,
    which the template's gateway response makes ``404 not_found``): the same request gets the same answer locally
    and in production, so no client learns to expect a 405 it would never see.
    """
    body = response.body
    if response.status_code < 400 or not isinstance(body, dict) or "Code" not in body or "error" in body:
        return response
    if body.get("Code") == "MethodNotAllowedError":
        return no_route(None)
    code, message = _CHALICE_ERRORS.get(str(body.get("Code")), ("error", "the request was refused"))
    return error_response(response.status_code, code, message)


def no_route(request) -> Response:
    """404 for a path the app does not have (the catch-all routes of ``app.py``)."""
    return error_response(404, "not_found", "no such route")


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
        return seller_sessions.seller_of(token, now=container().clock.now())
    except seller_sessions.SessionRejected as exc:
        raise NotAuthenticated(exc.reason) from None


def cookie(name: str, value: str, *, max_age: int, path: str) -> str:
    """A ``Set-Cookie`` value for an HttpOnly cookie of the app (``max_age=0`` deletes it)."""
    # Inside the Qianniu workbench the app is a third-party frame: browsers send only SameSite=None cookies there,
    # and only over https (Secure); where third-party cookies are blocked, only a Partitioned one (CHIPS), kept for
    # this app under the workbench's site alone. A plain-http local stack keeps Lax, accepted without Secure.
    https = container().settings.public_url.startswith("https://")
    site = "SameSite=None; Secure; Partitioned" if https else "SameSite=Lax"
    return f"{name}={value}; Max-Age={max_age}; Path={path}; HttpOnly; {site}"
