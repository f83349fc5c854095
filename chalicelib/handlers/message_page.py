"""A small page in the seller's language for what a browser reaches outside the dashboard: a login link refused,
a shop switch to confirm, an authorization that did not complete. No script, its one style allowed by hash; the
dashboard's look is not needed to say what happened and what to do next."""

from __future__ import annotations

import base64
import hashlib
from html import escape

from chalice import Response

_NO_STORE = {"Cache-Control": "no-store"}
_STYLE = (
    "body{margin:0;background:#f4f5f7;color:#1f2329;font:15px/1.6 -apple-system,'PingFang SC','Microsoft YaHei',"
    "'WenQuanYi Micro Hei',sans-serif}main{max-width:520px;margin:48px auto;padding:22px;background:#fff;"
    "border:1px solid #e5e7eb;border-radius:10px}h1{font-size:18px;margin:0 0 10px;color:#b3360b}"
    ".actions{display:flex;flex-wrap:wrap;gap:10px;margin-top:16px}a{display:inline-flex;align-items:center;"
    "min-height:40px;padding:7px 14px;border-radius:6px;border:1px solid #9ca3af;color:#1f2329;text-decoration:none}"
    "a.primary{background:#b3360b;border-color:#b3360b;color:#fff}a:focus-visible{outline:3px solid #2563eb}"
)
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()


def wants_page(request) -> bool:
    """Whether the client is a browser asking for a page (``Accept`` names ``text/html``)."""
    return "text/html" in ((request.headers or {}).get("accept") or "").lower()


def message_page(
    lang: str, status: int, title: str, lines: list[str], links: list[tuple[str, str, bool]], code: str = ""
) -> Response:
    """A small page of its own (no script) that says what happened, in ``lang``, with ``links`` as
    (label, href, primary) buttons; ``code`` is the error code for tests and support."""
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
