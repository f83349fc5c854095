"""Entry points: ``GET /login?code=…`` exchanges a one-time login link for the session cookie; ``POST /api/logout``
ends the seller's sessions.

The login link is what the local stack's commands print (``make run`` / ``make serve``): it carries a one-time
code, not a session, so a copied link, a browser history entry or a log line holding it is worth nothing once the
seller has clicked it. The session itself only ever travels in the HttpOnly ``hp_session`` cookie (or the bearer
header an API client chose). Logging out ends every session of the seller (``services.sessions.seller_sessions``).
"""

from __future__ import annotations

from chalice import Response

from chalicelib import i18n
from chalicelib.container import container
from chalicelib.handlers.http import SESSION_COOKIE, NotAuthenticated, cookie, error_response, seller_of
from chalicelib.services.sessions import seller_sessions
from chalicelib.telemetry import count, logger

_NO_STORE = {"Cache-Control": "no-store"}
SESSION_MAX_AGE = int(seller_sessions.SESSION_TTL.total_seconds())


def _refused(request, status: int, code: str) -> Response:
    return error_response(status, code, i18n.text(f"error.{code}", i18n.request_language(request.headers)))


def login(request) -> Response:
    """Start the seller's session from a login link's code (once), and go to the dashboard."""
    code = (request.query_params or {}).get("code")
    if not code:
        return _refused(request, 400, "invalid_request")
    try:
        session = seller_sessions.redeem(code, now=container().clock.now())
    except seller_sessions.SessionRejected as exc:
        count("LoginRefused")
        logger.info("login link refused", extra={"reason": exc.reason})
        return _refused(request, 401, "login_link_rejected")
    headers = {"Location": "/", "Set-Cookie": cookie(SESSION_COOKIE, session.token, max_age=SESSION_MAX_AGE, path="/")}
    return Response(body="", status_code=302, headers={**headers, **_NO_STORE})


def logout(request) -> Response:
    """End every session of the seller and drop the cookie."""
    try:
        seller_id = seller_of(request)
    except NotAuthenticated:
        return _refused(request, 401, "unauthenticated")
    named = (request.query_params or {}).get("seller_id")
    if named is not None and named != seller_id:  # as on every /api route: naming another seller is refused
        return _refused(request, 403, "forbidden")
    seller_sessions.end_all(seller_id, now=container().clock.now(), actor="seller")
    return Response(
        body={"logged_out": True},
        status_code=200,
        headers={
            "Content-Type": "application/json",
            "Set-Cookie": cookie(SESSION_COOKIE, "", max_age=0, path="/"),
            **_NO_STORE,
        },
    )
