"""Entry points: ``GET /oauth/start`` and ``GET /oauth/callback`` — onboarding and the seller session.

``start`` answers 302 to the marketplace's authorize page and sets the ``hp_oauth`` cookie (the state's
nonce, path ``/oauth``) that binds the flow to this browser. ``callback`` finishes it and starts a seller
session (``seller_session`` token, 12 hours):

- a browser (``Accept`` names ``text/html``) gets 302 to ``/oauth/done`` (the landing page that says the
  authorization is done and leads back to the workbench) with the session in the ``hp_session``
  cookie (HttpOnly; SameSite=None and Secure when the public URL is https, so it works inside
  the workbench's frame; SameSite=Lax on a plain-http local stack) — the token never enters a URL;
- any other client gets 200 JSON ``{"seller_id", "session_token", "token_type", "expires_at"}`` plus the
  same cookie, and sends the token back as ``Authorization: Bearer``.

Refusals are a page in the seller's language for a browser (what happened, and 重新授权), else the shared JSON
error shape: 400 ``invalid_request`` (no code or state),
400 ``authorization_denied`` (the seller declined), 401 ``state_rejected`` (forged, expired, replayed or
from another browser), 400 ``authorization_failed`` (the marketplace refused the code),
503 ``marketplace_unavailable``.
"""

from __future__ import annotations

from chalice import Response

from chalicelib import i18n
from chalicelib.container import container
from chalicelib.handlers.http import SESSION_COOKIE, cookie, error_response
from chalicelib.handlers.message_page import message_page, wants_page
from chalicelib.services.onboarding import oauth_flow
from chalicelib.services.sessions import seller_sessions

STATE_COOKIE = "hp_oauth"
SESSION_MAX_AGE = int(seller_sessions.SESSION_TTL.total_seconds())
_NO_STORE = {"Cache-Control": "no-store"}
RETRY_AFTER_SECONDS = 60
# Where a browser lands once authorized (``dashboard.authorized``): in the window 去授权 opened, it leads back.
LANDING = "/oauth/done"


def cookie_value(request, name: str) -> str | None:
    """The value of cookie ``name`` on the request, if any."""
    headers = request.headers or {}
    for part in (headers.get("cookie") or "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name and value:
            return value
    return None


def _refused(request, status: int, code: str, fields: dict | None = None, *, headers: dict | None = None):
    # The seller reads this mid-onboarding, in the window 去授权 opened: a browser gets a page in their language
    # that says what happened, with 重新授权 (the opener is kept, so a retry still comes back to the workbench);
    # other clients the JSON shape, the code the identifier and a state's refusal reason (safe) in ``fields``.
    lang = i18n.request_language(request.headers)
    key = "page.oauth.incomplete" if code == "invalid_request" else f"error.{code}"
    if wants_page(request):
        title, again = i18n.text("page.oauth.title", lang), i18n.text("page.oauth.again", lang)
        page = message_page(lang, status, title, [i18n.text(key, lang)], [(again, "start", True)], code)
        page.headers.update(headers or {})
        return page
    message = i18n.text(f"error.{code}", lang)
    return error_response(status, code, message, fields, headers={**_NO_STORE, **(headers or {})})


def start(request) -> Response:
    """Send the seller to the marketplace to authorize the app."""
    begun = oauth_flow.begin(now=container().clock.now())
    max_age = int(oauth_flow.STATE_TTL.total_seconds())
    return Response(
        body="",
        status_code=302,
        headers={
            "Location": begun.url,
            "Set-Cookie": cookie(STATE_COOKIE, begun.nonce, max_age=max_age, path="/oauth"),
            **_NO_STORE,
        },
    )


def callback(request) -> Response:
    """Finish the authorization the marketplace redirected back, and start the seller's session."""
    query = request.query_params or {}
    if query.get("error"):
        return _refused(request, 400, "authorization_denied")
    code, state = query.get("code"), query.get("state")
    if not code or not state:
        return _refused(request, 400, "invalid_request")
    now = container().clock.now()
    try:
        seller_id = oauth_flow.complete(code, state, browser_nonce=cookie_value(request, STATE_COOKIE), now=now)
    except oauth_flow.StateRejected as exc:
        return _refused(request, 401, "state_rejected", {"state": exc.reason})
    except oauth_flow.AuthorizationFailed as exc:
        return _refused(request, 400, "authorization_failed", {"code": exc.error or "oauth_error"})
    except oauth_flow.MarketplaceUnavailable:
        # The state is spent and the code may be: a new authorization from the start is the one way on.
        retry = {"Retry-After": str(RETRY_AFTER_SECONDS)}
        return _refused(request, 424, "marketplace_unavailable", {"retry": "/oauth/start"}, headers=retry)
    session = seller_sessions.start(seller_id, now=now)
    cookies = [
        cookie(SESSION_COOKIE, session.token, max_age=SESSION_MAX_AGE, path="/"),
        cookie(STATE_COOKIE, "", max_age=0, path="/oauth"),
    ]
    if wants_page(request):
        return Response(body="", status_code=302, headers={"Location": LANDING, "Set-Cookie": cookies, **_NO_STORE})
    body = {
        "seller_id": seller_id,
        "session_token": session.token,
        "token_type": "Bearer",
        "expires_at": session.expires_at.isoformat(),
    }
    return Response(
        body=body,
        status_code=200,
        headers={"Content-Type": "application/json", "Set-Cookie": cookies, **_NO_STORE},
    )
