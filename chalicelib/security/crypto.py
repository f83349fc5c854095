"""KMS envelope encryption of seller tokens.

Each value gets a fresh AES-256 data key from KMS ``GenerateDataKey``; only the KMS-encrypted copy
of that key is stored next to the AES-GCM ciphertext. The encryption context (for example
``{"seller_id": ..., "field": "access_token"}``) binds the blob to its owner twice: KMS refuses to
decrypt the data key under another context, and the context is also AES-GCM associated data.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

BLOB_VERSION = 1
_NONCE_BYTES = 12
# KMS answers these when the data key does not belong to this context or key; anything else
# (throttling, access denied, key disabled) is an operational failure and propagates unchanged.
_UNDECRYPTABLE = frozenset({"InvalidCiphertextException", "IncorrectKeyException"})


class DecryptionFailed(Exception):
    """The blob is malformed, was tampered with, or belongs to another encryption context."""


class TokenCipher:
    """Encrypts and decrypts short secrets with a KMS key; never keeps a plaintext data key."""

    __slots__ = ("_key_id", "_kms")

    def __init__(self, kms_client: Any, key_id: str) -> None:
        self._kms = kms_client
        self._key_id = key_id

    def encrypt(self, plaintext: str, *, context: Mapping[str, str]) -> dict[str, Any]:
        """Return a JSON-serializable blob ``{v, key_id, edk, nonce, ct}`` holding ``plaintext``.

        ``context`` must be non-empty; the same context is required to decrypt.
        """
        if not context:
            raise ValueError("an encryption context is required")
        context = dict(context)
        data_key = self._kms.generate_data_key(KeyId=self._key_id, KeySpec="AES_256", EncryptionContext=context)
        key_id = data_key["KeyId"]
        nonce = os.urandom(_NONCE_BYTES)
        ciphertext = AESGCM(data_key["Plaintext"]).encrypt(
            nonce, plaintext.encode("utf-8"), _associated_data(key_id, context)
        )
        return {
            "v": BLOB_VERSION,
            "key_id": key_id,
            "edk": _b64(data_key["CiphertextBlob"]),
            "nonce": _b64(nonce),
            "ct": _b64(ciphertext),
        }

    def decrypt(self, blob: Mapping[str, Any], *, context: Mapping[str, str]) -> str:
        """Return the plaintext of ``blob``; raise ``DecryptionFailed`` unless it is intact and ``context`` matches.

        KMS finds the key from the encrypted data key itself, so blobs written under a previous key
        still decrypt after the configured key changes; ``key_id`` is authenticated as associated data.
        """
        context = dict(context)
        try:
            if blob["v"] != BLOB_VERSION:
                raise DecryptionFailed(f"unsupported blob version {blob['v']!r}")
            key_id = blob["key_id"]
            if not isinstance(key_id, str):
                raise TypeError("key_id must be a string")
            edk, nonce, ciphertext = _unb64(blob["edk"]), _unb64(blob["nonce"]), _unb64(blob["ct"])
        except (KeyError, TypeError, ValueError) as exc:
            raise DecryptionFailed("malformed blob") from exc
        try:
            data_key = self._kms.decrypt(CiphertextBlob=edk, EncryptionContext=context)["Plaintext"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _UNDECRYPTABLE:
                raise DecryptionFailed("data key rejected by KMS") from exc
            raise
        try:
            plaintext = AESGCM(data_key).decrypt(nonce, ciphertext, _associated_data(key_id, context))
        except (InvalidTag, ValueError) as exc:
            raise DecryptionFailed("ciphertext failed authentication") from exc
        return plaintext.decode("utf-8")


def _associated_data(key_id: str, context: Mapping[str, str]) -> bytes:
    header = {"v": BLOB_VERSION, "key_id": key_id, "context": dict(context)}
    return json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: str) -> bytes:
    raw = base64.b64decode(text, validate=True)  # binascii.Error is a ValueError
    if not raw:
        raise ValueError("empty field")
    return raw
