"""Entry points: ``GET /login?code=…`` exchanges a one-time login link for the session cookie; ``POST /api/logout``
ends the seller's sessions.

The login link is what the local stack's commands print (``make run`` / ``make serve``) and what support hands a
seller: it carries a one-time code, not a session, so a copied link, a browser history entry or a log line holding
it is worth nothing once the seller has clicked it. The session itself only ever travels in the HttpOnly
``hp_session`` cookie (or the bearer header an API client chose). A link never replaces a signed-in session of
another shop by itself: the browser gets a page that names both shops and asks, and only that page's button
(carrying a proof bound to the current session) switches. A browser reads every refusal as a page in the seller's
language; other clients get the JSON error shape. Logging out ends every session of the seller
(``services.sessions.seller_sessions``).
"""

from __future__ import annotations

from urllib.parse import urlencode

from chalice import Response

from chalicelib import i18n
from chalicelib.container import container
from chalicelib.handlers.http import SESSION_COOKIE, NotAuthenticated, cookie, error_response, seller_of
from chalicelib.handlers.message_page import message_page, wants_page
from chalicelib.handlers.oauth import cookie_value
from chalicelib.services.sessions import seller_sessions
from chalicelib.telemetry import count, logger

_NO_STORE = {"Cache-Control": "no-store"}
SESSION_MAX_AGE = int(seller_sessions.SESSION_TTL.total_seconds())


def _refused(request, status: int, code: str) -> Response:
    lang = i18n.request_language(request.headers)
    if wants_page(request):
        return message_page(
            lang, status, i18n.text("page.session.error_title", lang), [i18n.text(f"error.{code}", lang)], [], code
        )
    return error_response(status, code, i18n.text(f"error.{code}", lang))


def login(request) -> Response:
    """Start the seller's session from a login link's code (once), and go to the dashboard; ask first when the
    browser is signed in to another shop."""
    query = request.query_params or {}
    code = query.get("code")
    if not code:
        return _refused(request, 400, "login_link_missing")
    now = container().clock.now()
    current = cookie_value(request, SESSION_COOKIE)
    try:
        if current and (asked := _ask_before_switching(request, current, code)) is not None:
            return asked
        session = seller_sessions.redeem(code, now=now)
    except seller_sessions.SessionRejected as exc:
        count("LoginRefused")
        logger.info("login link refused", extra={"reason": exc.reason})
        return _refused(request, 401, "login_link_rejected")
    headers = {"Location": "/", "Set-Cookie": cookie(SESSION_COOKIE, session.token, max_age=SESSION_MAX_AGE, path="/")}
    return Response(body="", status_code=302, headers={**headers, **_NO_STORE})


def _ask_before_switching(request, current: str, code: str) -> Response | None:
    """The page that asks before a link replaces a signed-in session of another shop; None when there is nothing
    to ask (no live session, the same shop, or the seller's own confirmation)."""
    now = container().clock.now()
    try:
        signed_in = seller_sessions.seller_of(current, now=now)
    except seller_sessions.SessionRejected:
        return None  # an ended or expired session is nothing to keep
    other = seller_sessions.seller_of_link(code, now=now)
    confirmed = seller_sessions.switch_allowed(current, code, (request.query_params or {}).get("switch"))
    if other == signed_in or confirmed:
        return None
    count("LoginSwitchAsked")
    lang = i18n.request_language(request.headers)
    names = {"current": seller_sessions.shop_name(signed_in), "other": seller_sessions.shop_name(other)}
    switch = "login?" + urlencode({"code": code, "switch": seller_sessions.switch_proof(current, code)})
    return message_page(
        lang,
        200,
        i18n.text("page.session.title", lang),
        [i18n.text("page.session.current", lang, **names), i18n.text("page.session.other", lang, **names)],
        [
            (i18n.text("page.session.stay", lang, **names), "./", True),
            (i18n.text("page.session.switch", lang, **names), switch, False),
        ],
        "switch_shop",
    )


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
