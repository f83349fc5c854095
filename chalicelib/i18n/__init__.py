"""Message catalogues: every text a seller sees, in Simplified Chinese first and English as a switch.

``zh_CN.json`` and ``en.json`` beside this file hold the texts by key (``error.not_found``, ``alert.plan_expiring``,
``page.*`` for the dashboard). Codes and keys are stable identifiers; only the texts are translated. A key a
catalogue lacks falls back to Chinese, then to the key itself, so a missing translation never breaks a page.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path

DEFAULT = "zh-CN"
LANGUAGES = ("zh-CN", "en")
LANG_COOKIE = "hp_lang"
_FILES = {"zh-CN": "zh_CN.json", "en": "en.json"}
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


@cache
def catalogue(lang: str) -> dict[str, object]:
    """The whole catalogue of ``lang`` (``zh-CN`` for anything unknown)."""
    name = _FILES.get(lang, _FILES[DEFAULT])
    return json.loads(Path(__file__).with_name(name).read_text(encoding="utf-8"))


def text(key: str, lang: str = DEFAULT, **values: object) -> str:
    """The text of ``key`` in ``lang`` with ``{name}`` placeholders filled (a missing value renders empty)."""
    found = catalogue(lang).get(key)
    if not isinstance(found, str):
        found = catalogue(DEFAULT).get(key)
    if not isinstance(found, str):
        return key
    return _PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), "")), found)


def has(key: str) -> bool:
    """Whether the default catalogue has ``key``."""
    return isinstance(catalogue(DEFAULT).get(key), str)


def negotiate(accept_language: str | None, chosen: str | None = None) -> str:
    """The language to answer in: the seller's remembered choice (cookie or header), else the first
    ``Accept-Language`` entry we have (by quality), else Chinese."""
    if chosen in LANGUAGES:
        return chosen
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        ranked.append((-quality, position, tag.strip().lower()))
    for _, _, tag in sorted(ranked):
        if tag.startswith("zh"):
            return "zh-CN"
        if tag.startswith("en"):
            return "en"
    return DEFAULT


def request_language(headers: Mapping[str, str] | None) -> str:
    """The language of an HTTP request: the ``hp_lang`` cookie, then ``Accept-Language``."""
    headers = headers or {}
    chosen = None
    for part in (headers.get("cookie") or "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == LANG_COOKIE:
            chosen = value.strip()
    return negotiate(headers.get("accept-language") or headers.get("Accept-Language"), chosen)


@cache
def _reasons(lang: str) -> tuple[tuple[re.Pattern[str], str], ...]:
    table = catalogue(lang).get("reasons") or {}
    return tuple((re.compile(pattern), replacement) for pattern, replacement in table.items())


def reason(message: str, lang: str = DEFAULT) -> str:
    """A validation reason produced in English by the domain, in ``lang`` when the catalogue knows its shape."""
    for pattern, replacement in _reasons(lang):
        match = pattern.search(message)
        if match:
            return match.expand(replacement)
    return message
