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

import base64
import hashlib
from html import escape
from urllib.parse import urlencode

from chalice import Response

from chalicelib import i18n
from chalicelib.container import container
from chalicelib.handlers.http import SESSION_COOKIE, NotAuthenticated, cookie, error_response, seller_of
from chalicelib.handlers.oauth import cookie_value
from chalicelib.services.sessions import seller_sessions
from chalicelib.telemetry import count, logger

_NO_STORE = {"Cache-Control": "no-store"}
SESSION_MAX_AGE = int(seller_sessions.SESSION_TTL.total_seconds())
_STYLE = (
    "body{margin:0;background:#f4f5f7;color:#1f2329;font:15px/1.6 -apple-system,'PingFang SC','Microsoft YaHei',"
    "'WenQuanYi Micro Hei',sans-serif}main{max-width:520px;margin:48px auto;padding:22px;background:#fff;"
    "border:1px solid #e5e7eb;border-radius:10px}h1{font-size:18px;margin:0 0 10px;color:#b3360b}"
    ".actions{display:flex;flex-wrap:wrap;gap:10px;margin-top:16px}a{display:inline-flex;align-items:center;"
    "min-height:40px;padding:7px 14px;border-radius:6px;border:1px solid #9ca3af;color:#1f2329;text-decoration:none}"
    "a.primary{background:#b3360b;border-color:#b3360b;color:#fff}a:focus-visible{outline:3px solid #2563eb}"
)
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()


def _wants_page(request) -> bool:
    return "text/html" in ((request.headers or {}).get("accept") or "").lower()


def _page(lang: str, status: int, title: str, lines: list[str], links: list[tuple[str, str, bool]], code: str = ""):
    # A small page of its own (no script): the dashboard's style is not needed to say what happened.
    body = "".join(f"<p>{escape(line)}</p>" for line in lines)
    buttons = "".join(
        f'<a href="{escape(href)}"{" class=primary" if primary else ""}>{escape(label)}</a>'
        for label, href, primary in links
    )
    html = (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f'<body data-code="{escape(code)}"><main><h1>{escape(title)}</h1>{body}<div class="actions">{buttons}</div>'
        "</main></body></html>"
    )
    headers = {
        "Content-Type": "text/html; charset=utf-8",
        "Content-Security-Policy": f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; base-uri 'none'",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        **_NO_STORE,
    }
    return Response(body=html, status_code=status, headers=headers)


def _refused(request, status: int, code: str) -> Response:
    lang = i18n.request_language(request.headers)
    if _wants_page(request):
        return _page(
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
    return _page(
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
