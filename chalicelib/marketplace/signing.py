"""TOP request signing: the one implementation used for outbound calls and inbound verification."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

SIGN_METHODS = ("md5", "hmac", "hmac-sha256")


def _canonical(params: Mapping[str, object], body: bytes | str | None) -> bytes:
    # TOP skips empty names/values (but keeps "0") and sorts by byte order of the name.
    parts = []
    for name in sorted(params):
        value = params[name]
        if name == "sign" or not name or value is None or value == "":
            continue
        parts.append(f"{name}{value}")
    text = "".join(parts).encode("utf-8")
    if body:
        text += body.encode("utf-8") if isinstance(body, str) else body
    return text


def sign(params: Mapping[str, object], secret: str, method: str = "md5", body: bytes | str | None = None) -> str:
    """Return the upper-case hex TOP signature of ``params`` (and the raw ``body``, for pushed messages)."""
    text = _canonical(params, body)
    key = secret.encode("utf-8")
    if method == "md5":
        digest = hashlib.md5(key + text + key).hexdigest()
    elif method == "hmac":
        digest = hmac.new(key, text, hashlib.md5).hexdigest()
    elif method == "hmac-sha256":
        digest = hmac.new(key, text, hashlib.sha256).hexdigest()
    else:
        raise ValueError(f"unsupported sign_method: {method!r}")
    return digest.upper()


def verify(
    params: Mapping[str, object],
    secret: str,
    signature: str,
    method: str = "md5",
    body: bytes | str | None = None,
) -> bool:
    """True when ``signature`` matches; compared in constant time so timing leaks nothing."""
    if method not in SIGN_METHODS or not signature:
        return False
    expected = sign(params, secret, method, body)
    return hmac.compare_digest(expected.encode("ascii"), signature.upper().encode("ascii", "replace"))
