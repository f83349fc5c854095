"""Entry points: ``GET /`` serves the seller's dashboard, one self-contained page (no build step, no CDN);
``GET /oauth/done`` serves where an authorization lands, in the window 去授权 opened.

The page talks only to ``/api`` on the same origin with the seller's session cookie. Its inline script and
style are allowed by hash in a strict Content-Security-Policy, so nothing else can run on it. Its texts come from
the message catalogues (``chalicelib/i18n``), embedded as data (not script) in both languages; the page opens in
the seller's remembered language, else the one ``Accept-Language`` asks for, else Chinese.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from functools import cache
from pathlib import Path

from chalice import Response

from chalicelib import i18n
from chalicelib.container import container

STATIC = Path(__file__).resolve().parent.parent / "static"
PAGE_PATH = STATIC / "dashboard.html"
LANDING_PATH = STATIC / "authorized.html"
# Catalogue entries the page itself shows (the rest are for the API, alerts and exports).
PAGE_KEYS = ("page.", "state.", "value.", "explain.", "lint.", "csv.")
# The landing page of an authorization says only that it is done and how to go back.
LANDING_KEYS = ("page.title", "page.switch_language", "page.authorized.")
_CATALOGUE_SLOT = '<script type="application/json" id="i18n-data">{}</script>'
_INLINE = {"script": re.compile(r"<script>(.*?)</script>", re.S), "style": re.compile(r"<style>(.*?)</style>", re.S)}


def _hashes(html: str, tag: str) -> str:
    found = _INLINE[tag].findall(html)
    return " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()}'" for body in found)


def _catalogues(keys: tuple[str, ...]) -> str:
    texts = {
        lang: {key: value for key, value in i18n.catalogue(lang).items() if key.startswith(keys)}
        for lang in i18n.LANGUAGES
    }
    # "</" cannot end the data block early, whatever a translation says.
    return json.dumps(texts, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")


@cache
def _page(lang: str = i18n.DEFAULT, path: Path = PAGE_PATH, keys: tuple[str, ...] = PAGE_KEYS):
    """The page in ``lang`` and its headers, read and hashed once per container and language."""
    html = path.read_text(encoding="utf-8")
    html = html.replace(_CATALOGUE_SLOT, _CATALOGUE_SLOT.replace("{}", _catalogues(keys)), 1)
    html = html.replace('<html lang="zh-CN">', f'<html lang="{lang}">', 1)
    policy = "; ".join(
        [
            "default-src 'none'",
            f"script-src {_hashes(html, 'script')}",
            f"style-src {_hashes(html, 'style')}",
            "connect-src 'self'",
            "img-src 'self' data:",
            "base-uri 'none'",
            "form-action 'none'",
        ]
    )
    headers = {
        "Content-Type": "text/html; charset=utf-8",
        "Content-Security-Policy": policy,
        # An old link may still carry a token in the URL (the page drops it unused): never let it leak in a Referer.
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }
    return html, headers


def page(request) -> Response:
    """The dashboard page; it needs no session itself, its API calls do. Only the configured origins (the 千牛
    workbench's) may frame it (``frame-ancestors``), so no other site can show it under a disguise."""
    html, headers = _page(i18n.request_language(request.headers))
    framed = {"Content-Security-Policy": f"{headers['Content-Security-Policy']}; frame-ancestors {_frame_ancestors()}"}
    return Response(body=html, status_code=200, headers={**headers, **framed})


def authorized(request) -> Response:
    """Where the marketplace's authorization lands (the callback sends the browser here with the session set). In
    the window 去授权 opened it tells the workbench's page (``postMessage`` to our own origin only), which reads
    its steps again, and closes itself; opened any other way it says so and offers the dashboard. It needs no
    session and shows nothing of the shop."""
    html, headers = _page(i18n.request_language(request.headers), LANDING_PATH, LANDING_KEYS)
    framed = {"Content-Security-Policy": f"{headers['Content-Security-Policy']}; frame-ancestors {_frame_ancestors()}"}
    return Response(body=html, status_code=200, headers={**headers, **framed})


def _frame_ancestors() -> str:
    return container().settings.frame_ancestors
