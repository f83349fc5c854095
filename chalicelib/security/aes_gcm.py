"""AES-256-GCM from the OpenSSL library the Python runtime already links (``_ssl``/``_hashlib``), through ctypes.

Lambda's python3.13 runtime ships no cipher in the standard library, and a cryptography wheel would double the
bundle; but its interpreter speaks TLS with OpenSSL's libcrypto, which implements AES-GCM (EVP interface). This
module loads that same library — the one ``_hashlib`` mapped into this process, else ``libcrypto.so.3`` — and calls
its one-shot EVP sequence. Nothing here keeps a key: each call makes and frees its own cipher context.

A sealed value is ``nonce (12) || ciphertext || tag (16)``; the nonce is random per call.
"""

from __future__ import annotations

import ctypes
import os
from functools import cache

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
_SET_IVLEN, _GET_TAG, _SET_TAG = 0x9, 0x10, 0x11  # EVP_CTRL_GCM_* (OpenSSL's evp.h)
_LIBRARY_NAMES = ("libcrypto.so.3", "libcrypto.so.1.1", "libcrypto.so")


class Unavailable(RuntimeError):
    """This runtime has no loadable OpenSSL libcrypto with AES-GCM: an operational fault, not a bad blob."""


class InvalidTag(Exception):
    """The sealed value was altered, is truncated, or was sealed under another key or associated data."""


def _mapped_libcrypto() -> str | None:
    # The libcrypto ``_hashlib`` linked: the exact library (and version) this interpreter already trusts.
    import _hashlib  # noqa: F401  (maps libcrypto into the process)

    try:
        with open("/proc/self/maps", encoding="ascii", errors="replace") as maps:
            for line in maps:
                path = line.rstrip("\n").split(maxsplit=5)[-1]
                if "/libcrypto" in path and path.startswith("/"):
                    return path
    except OSError:
        pass
    return None


@cache
def _lib() -> ctypes.CDLL:
    candidates = [name for name in (_mapped_libcrypto(), *_LIBRARY_NAMES) if name]
    for name in candidates:
        try:
            lib = ctypes.CDLL(name)
            lib.EVP_aes_256_gcm  # noqa: B018  (raises AttributeError when the symbol is missing)
        except (OSError, AttributeError):
            continue
        return _declare(lib)
    raise Unavailable(f"no OpenSSL libcrypto with AES-GCM among {candidates}")


def _declare(lib: ctypes.CDLL) -> ctypes.CDLL:
    # Pointers are declared as c_void_p: ctypes' default int return would truncate them on 64-bit.
    p, i, ip = ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_int)
    signatures = {
        "EVP_CIPHER_CTX_new": (p, []),
        "EVP_CIPHER_CTX_free": (None, [p]),
        "EVP_aes_256_gcm": (p, []),
        "EVP_CIPHER_CTX_ctrl": (i, [p, i, i, p]),
        "EVP_EncryptInit_ex": (i, [p, p, p, p, p]),
        "EVP_EncryptUpdate": (i, [p, p, ip, p, i]),
        "EVP_EncryptFinal_ex": (i, [p, p, ip]),
        "EVP_DecryptInit_ex": (i, [p, p, p, p, p]),
        "EVP_DecryptUpdate": (i, [p, p, ip, p, i]),
        "EVP_DecryptFinal_ex": (i, [p, p, ip]),
    }
    for name, (restype, argtypes) in signatures.items():
        function = getattr(lib, name)
        function.restype, function.argtypes = restype, argtypes
    return lib


def available() -> bool:
    """Whether this runtime can seal and open values (its libcrypto loads and has AES-256-GCM)."""
    try:
        _lib()
    except Unavailable:
        return False
    return True


def _check(ok: int, step: str) -> None:
    if ok != 1:
        raise Unavailable(f"OpenSSL {step} failed")


def _run(encrypt: bool, key: bytes, nonce: bytes, data: bytes, aad: bytes, tag: bytes | None) -> tuple[bytes, bytes]:
    if len(key) != KEY_BYTES:
        raise ValueError("AES-256-GCM needs a 32-byte key")
    lib = _lib()
    init, update, final = (
        (lib.EVP_EncryptInit_ex, lib.EVP_EncryptUpdate, lib.EVP_EncryptFinal_ex)
        if encrypt
        else (lib.EVP_DecryptInit_ex, lib.EVP_DecryptUpdate, lib.EVP_DecryptFinal_ex)
    )
    ctx = lib.EVP_CIPHER_CTX_new()
    if not ctx:
        raise Unavailable("OpenSSL could not make a cipher context")
    try:
        written = ctypes.c_int(0)
        _check(init(ctx, lib.EVP_aes_256_gcm(), None, None, None), "cipher init")
        _check(lib.EVP_CIPHER_CTX_ctrl(ctx, _SET_IVLEN, len(nonce), None), "nonce length")
        _check(init(ctx, None, None, key, nonce), "key init")
        if aad:
            _check(update(ctx, None, ctypes.byref(written), aad, len(aad)), "associated data")
        out = ctypes.create_string_buffer(len(data) + TAG_BYTES)  # GCM is a stream mode: output ≤ input
        _check(update(ctx, out, ctypes.byref(written), data, len(data)), "update")
        produced = written.value
        if not encrypt:
            expected = ctypes.create_string_buffer(tag, TAG_BYTES)
            _check(lib.EVP_CIPHER_CTX_ctrl(ctx, _SET_TAG, TAG_BYTES, expected), "tag set")
            if final(ctx, ctypes.byref(out, produced), ctypes.byref(written)) != 1:
                raise InvalidTag("authentication failed")
            return out.raw[: produced + written.value], b""
        _check(final(ctx, ctypes.byref(out, produced), ctypes.byref(written)), "final")
        produced += written.value
        tag_out = ctypes.create_string_buffer(TAG_BYTES)
        _check(lib.EVP_CIPHER_CTX_ctrl(ctx, _GET_TAG, TAG_BYTES, tag_out), "tag get")
        return out.raw[:produced], tag_out.raw
    finally:
        lib.EVP_CIPHER_CTX_free(ctx)


def seal(key: bytes, plaintext: bytes, aad: bytes = b"") -> bytes:
    """``nonce || ciphertext || tag`` of ``plaintext`` under ``key``, authenticating ``aad`` too."""
    nonce = os.urandom(NONCE_BYTES)
    ciphertext, tag = _run(True, key, nonce, plaintext, aad, None)
    return nonce + ciphertext + tag


def open_sealed(key: bytes, sealed: bytes, aad: bytes = b"") -> bytes:
    """The plaintext of ``seal(key, plaintext, aad)``; raises ``InvalidTag`` unless it is intact and ``aad`` matches."""
    if len(sealed) < NONCE_BYTES + TAG_BYTES:
        raise InvalidTag("too short")
    nonce, body, tag = sealed[:NONCE_BYTES], sealed[NONCE_BYTES:-TAG_BYTES], sealed[-TAG_BYTES:]
    plaintext, _ = _run(False, key, nonce, body, aad, tag)
    return plaintext
