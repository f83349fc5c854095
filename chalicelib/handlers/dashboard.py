"""Entry point: ``GET /`` serves the seller's dashboard, one self-contained page (no build step, no CDN).

The page talks only to ``/api`` on the same origin with the seller's session token. Its inline script and
style are allowed by hash in a strict Content-Security-Policy, so nothing else can run on it.
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache
from pathlib import Path

from chalice import Response

PAGE_PATH = Path(__file__).resolve().parent.parent / "static" / "dashboard.html"
_INLINE = {"script": re.compile(r"<script>(.*?)</script>", re.S), "style": re.compile(r"<style>(.*?)</style>", re.S)}


def _hashes(html: str, tag: str) -> str:
    found = _INLINE[tag].findall(html)
    return " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()}'" for body in found)


@cache
def _page() -> tuple[str, dict[str, str]]:
    """The page and its headers, read and hashed once per container."""
    html = PAGE_PATH.read_text(encoding="utf-8")
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
        # The first load carries the session token in the URL: never let it leak through a Referer.
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }
    return html, headers


def page(request) -> Response:
    """The dashboard page; it needs no session itself, its API calls do."""
    html, headers = _page()
    return Response(body=html, status_code=200, headers=dict(headers))
