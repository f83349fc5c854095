"""Masking of secrets and buyer identities in anything about to be logged.

Three rules, applied recursively to mappings, lists and tuples (other values are returned unchanged):

1. A mapping value whose key looks sensitive becomes ``"***"`` whatever its type. A key is sensitive
   when, case-insensitively, it contains one of ``SENSITIVE_KEY_PARTS`` (``access_token``,
   ``buyer_nick``, ``Authorization``, ``x-top-sign`` ...). Substring matching errs on the safe side:
   ``token_expires_at`` is masked too. Exceptions are the exact names in ``SAFE_KEYS`` (public
   protocol metadata such as ``sign_method``) and keys that announce an already masked value
   (``masked_nick``, ``nick_masked``).
2. In strings, ``name=value`` / ``name: value`` pairs with a sensitive name keep the name and lose the
   value, so ``"refresh failed for session=6201..."`` stays readable.
3. In strings, a token-like run — at least 24 characters of ``[A-Za-z0-9_-]`` mixing letters and
   digits, or at least 32 hex digits — becomes its first 4 characters and ``…``. Requiring digits
   spares identifiers such as ``taobao_trade_TradeSuccess``.

Free text cannot reveal which words are nicks: pass buyer identities as keyword fields, never
inside a message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

MASK = "***"

SENSITIVE_KEY_PARTS = (
    "nick",
    "open_uid",
    "openuid",
    "token",
    "secret",
    "session",
    "password",
    "passwd",
    "authorization",
    "cookie",
    "credential",
    "sign",
)

# Protocol metadata that matches a sensitive part but carries nothing secret.
SAFE_KEYS = frozenset({"sign_method", "token_type"})

# A name is a whole word (the look-behind keeps the scan linear) followed by "=" or ":".
_NAME_SEP = re.compile(r"""(?<![\w.-])([\w.-]+)(["']?\s*[=:]\s*["']?)""")
_VALUE = re.compile(r"""(?:(?:bearer|basic)\s+)?[^\s&,;"'}\]]+""", re.IGNORECASE)
_RUN = re.compile(r"[A-Za-z0-9_-]{24,}")
_HEX = re.compile(r"[0-9A-Fa-f]{32,}")
_LETTER = re.compile(r"[A-Za-z]")
_DIGIT = re.compile(r"[0-9]")


def is_sensitive_key(key: object) -> bool:
    """True when values under ``key`` must never be shown."""
    name = str(key).lower()
    if name in SAFE_KEYS or name.startswith("masked_") or name.endswith("_masked"):
        return False
    return any(part in name for part in SENSITIVE_KEY_PARTS)


def redact(value: Any) -> Any:
    """Return a copy of ``value`` with sensitive fields and token-like strings masked (see module doc)."""
    if isinstance(value, str):
        return _redact_text(value)
    if isinstance(value, Mapping):
        return {key: MASK if is_sensitive_key(key) else redact(item) for key, item in value.items()}
    if isinstance(value, list):
        return [redact(item) for item in value]
    if isinstance(value, tuple):
        return tuple(redact(item) for item in value)
    return value


def _redact_text(text: str) -> str:
    return _RUN.sub(_mask_run, _mask_pairs(text))


def _mask_pairs(text: str) -> str:
    parts: list[str] = []
    done = 0
    for pair in _NAME_SEP.finditer(text):
        if pair.start() < done or not is_sensitive_key(pair[1]):
            continue
        value = _VALUE.match(text, pair.end())
        if value is not None:
            parts += [text[done : pair.end()], MASK]
            done = value.end()
    parts.append(text[done:])
    return "".join(parts)


def _mask_run(match: re.Match[str]) -> str:
    run = match[0]
    token_like = (_LETTER.search(run) and _DIGIT.search(run)) or _HEX.search(run)
    return f"{run[:4]}…" if token_like else run
