"""Seller tokens encrypted by KMS itself (``Encrypt``/``Decrypt``), bound to their owner by the context.

A marketplace token is a few dozen bytes, far under KMS's 4 KiB direct-encryption limit, so no data key and
no local cipher are needed (and no native crypto library in the bundle). The encryption context (for example
``{"seller_id": ..., "purpose": "marketplace-token"}``) is authenticated by KMS: a blob copied to another
seller, or decrypted for another purpose, is refused.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

BLOB_VERSION = 2
# KMS refuses an empty plaintext; one marker byte lets an empty string round-trip like any other.
_MARKER = b"\x01"
KMS_PLAINTEXT_LIMIT = 4096
# KMS answers these when the ciphertext does not belong to this context or key; anything else
# (throttling, access denied, key disabled) is an operational failure and propagates unchanged.
_UNDECRYPTABLE = frozenset({"InvalidCiphertextException", "IncorrectKeyException"})


class DecryptionFailed(Exception):
    """The blob is malformed, was tampered with, or belongs to another encryption context."""


class TokenCipher:
    """Encrypts and decrypts short secrets with a KMS key; keeps no plaintext."""

    __slots__ = ("_key_id", "_kms")

    def __init__(self, kms_client: Any, key_id: str) -> None:
        self._kms = kms_client
        self._key_id = key_id

    def encrypt(self, plaintext: str, *, context: Mapping[str, str]) -> dict[str, Any]:
        """Return a JSON-serializable blob ``{v, key_id, ct}`` holding ``plaintext``.

        ``context`` must be non-empty; the same context is required to decrypt.
        """
        if not context:
            raise ValueError("an encryption context is required")
        raw = _MARKER + plaintext.encode("utf-8")
        if len(raw) > KMS_PLAINTEXT_LIMIT:
            raise ValueError("value too long for direct KMS encryption")
        out = self._kms.encrypt(KeyId=self._key_id, Plaintext=raw, EncryptionContext=dict(context))
        return {"v": BLOB_VERSION, "key_id": out["KeyId"], "ct": base64.b64encode(out["CiphertextBlob"]).decode()}

    def decrypt(self, blob: Mapping[str, Any], *, context: Mapping[str, str]) -> str:
        """Return the plaintext of ``blob``; raise ``DecryptionFailed`` unless it is intact and ``context`` matches.

        The blob names the key it was written under, so blobs written before a key change still decrypt; a
        blob claiming another key than the one that wrote it is refused by KMS.
        """
        try:
            if blob["v"] != BLOB_VERSION:
                raise DecryptionFailed(f"unsupported blob version {blob['v']!r}")
            key_id = blob["key_id"]
            if not isinstance(key_id, str) or not key_id:
                raise TypeError("key_id must be a string")
            ciphertext = base64.b64decode(blob["ct"], validate=True)
            if not ciphertext:
                raise ValueError("empty ciphertext")
        except (KeyError, TypeError, ValueError) as exc:
            raise DecryptionFailed("malformed blob") from exc
        try:
            raw = self._kms.decrypt(CiphertextBlob=ciphertext, KeyId=key_id, EncryptionContext=dict(context))[
                "Plaintext"
            ]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _UNDECRYPTABLE:
                raise DecryptionFailed("ciphertext rejected by KMS") from exc
            raise
        if not raw.startswith(_MARKER):
            raise DecryptionFailed("not a token blob")
        return raw[len(_MARKER) :].decode("utf-8")
