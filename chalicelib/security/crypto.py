"""Seller tokens under envelope encryption: AES-256-GCM with a data key that KMS generates and wraps.

Why not KMS ``Encrypt``/``Decrypt`` per token: a review worker meets a different seller in almost every record, so
a Decrypt per token and container was the largest line of a seller-month after DynamoDB (bench figure 13). Here
one data key a month serves every token sealed that month (``SharedDataKeys`` keeps its KMS-wrapped form, so all
containers use the same one); a container asks KMS to unwrap each data key it meets once an hour at most.

A blob is ``{v: 3, key_id, p, dk, ct}``: the KMS key that wrapped the data key, the data key's month, the wrapped
data key (base64) and ``nonce || ciphertext || tag`` (base64). The token's encryption context (for example
``{"seller_id": ..., "purpose": "marketplace-token"}``) is the cipher's associated data, with the version and the
month: a blob copied to another seller, or decrypted for another purpose, fails its tag. The wrapped data key is
bound by KMS to its own context (purpose and month), so it unwraps only as the data key of that month.

The roles hold ``kms:GenerateDataKey`` and ``kms:Decrypt`` on the stage's key, nothing else.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

from botocore.exceptions import ClientError

from chalicelib.security import aes_gcm

BLOB_VERSION = 3
DATA_KEY_PURPOSE = "token-data-key"
# KMS answers these when the ciphertext does not belong to this context or key; anything else
# (throttling, access denied, key disabled) is an operational failure and propagates unchanged.
_UNDECRYPTABLE = frozenset({"InvalidCiphertextException", "IncorrectKeyException"})


class DecryptionFailed(Exception):
    """The blob is malformed, was tampered with, or belongs to another encryption context."""


class SharedDataKeys(Protocol):
    """Where the month's wrapped data key is kept for every container (``store.data_keys``)."""

    def get(self, period: str) -> tuple[str, bytes] | None:
        """The month's ``(kms_key_id, wrapped data key)``, or None before anyone made one."""

    def put_new(self, period: str, key_id: str, wrapped: bytes, *, now: datetime) -> bool:
        """Keep the month's wrapped data key unless one is kept already; True when this one was kept."""


class KeyCache(Protocol):
    """A per-container cache with time-to-live (``runtime.TtlCache``)."""

    def get_or_load(self, key: Any, load: Callable[[], Any]) -> Any: ...


def data_key_period(now: datetime) -> str:
    """The month a data key serves (UTC): a new data key each month bounds what one key protects."""
    return now.strftime("%Y-%m")


def _data_key_context(period: str) -> dict[str, str]:
    return {"purpose": DATA_KEY_PURPOSE, "period": period}


def _aad(period: str, context: Mapping[str, str]) -> bytes:
    canonical = {"v": BLOB_VERSION, "p": period, "context": dict(context)}
    return json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class TokenCipher:
    """Encrypts and decrypts short secrets under the month's data key; keeps no plaintext itself.

    Unwrapped data keys live in ``keys`` (the container's ``data_keys`` cache), never in a log or a store.
    """

    __slots__ = ("_key_id", "_keys", "_kms", "_now", "_shared")

    def __init__(
        self,
        kms_client: Any,
        key_id: str,
        *,
        shared: SharedDataKeys,
        keys: KeyCache,
        now: Callable[[], datetime],
    ) -> None:
        self._kms = kms_client
        self._key_id = key_id
        self._shared = shared
        self._keys = keys
        self._now = now

    def encrypt(self, plaintext: str, *, context: Mapping[str, str]) -> dict[str, Any]:
        """Return a JSON-serializable blob ``{v, key_id, p, dk, ct}`` holding ``plaintext``.

        ``context`` must be non-empty; the same context is required to decrypt.
        """
        if not context:
            raise ValueError("an encryption context is required")
        period = data_key_period(self._now())
        key_id, wrapped = self._keys.get_or_load(("month", period), lambda: self._month_key(period))
        key = self._data_key(key_id, wrapped, period)
        sealed = aes_gcm.seal(key, plaintext.encode("utf-8"), _aad(period, context))
        return {
            "v": BLOB_VERSION,
            "key_id": key_id,
            "p": period,
            "dk": base64.b64encode(wrapped).decode(),
            "ct": base64.b64encode(sealed).decode(),
        }

    def decrypt(self, blob: Mapping[str, Any], *, context: Mapping[str, str]) -> str:
        """Return the plaintext of ``blob``; raise ``DecryptionFailed`` unless it is intact and ``context`` matches.

        The blob names the KMS key that wrapped its data key, so blobs written before a key change still decrypt.
        """
        try:
            if blob["v"] != BLOB_VERSION:
                raise DecryptionFailed(f"unsupported blob version {blob['v']!r}")
            key_id, period = blob["key_id"], blob["p"]
            if not all(isinstance(value, str) and value for value in (key_id, period)):
                raise TypeError("key_id and p must be strings")
            wrapped = base64.b64decode(blob["dk"], validate=True)
            sealed = base64.b64decode(blob["ct"], validate=True)
            if not wrapped or not sealed:
                raise ValueError("empty ciphertext")
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise DecryptionFailed("malformed blob") from exc
        key = self._data_key(key_id, wrapped, period)
        try:
            plain = aes_gcm.open_sealed(key, sealed, _aad(period, context))
            return plain.decode("utf-8")
        except (aes_gcm.InvalidTag, UnicodeDecodeError) as exc:
            raise DecryptionFailed("ciphertext rejected") from exc

    def _month_key(self, period: str) -> tuple[str, bytes]:
        """The month's ``(kms_key_id, wrapped data key)``, made and kept for every container by the first one to
        need it (whose unwrapped key is cached as it came, with no Decrypt)."""
        found = self._shared.get(period)
        if found is not None:
            return found
        made = self._kms.generate_data_key(
            KeyId=self._key_id, KeySpec="AES_256", EncryptionContext=_data_key_context(period)
        )
        if self._shared.put_new(period, made["KeyId"], made["CiphertextBlob"], now=self._now()):
            self._keys.get_or_load(("wrapped", made["KeyId"], made["CiphertextBlob"]), lambda: made["Plaintext"])
            return made["KeyId"], made["CiphertextBlob"]
        found = self._shared.get(period)  # another container kept its key first: use that one
        if found is None:
            raise RuntimeError(f"the data key of {period} is neither kept nor keepable")
        return found

    def _data_key(self, key_id: str, wrapped: bytes, period: str) -> bytes:
        """The unwrapped data key, from the container's cache or KMS: one Decrypt per data key an hour, whether
        the container seals or opens with it."""
        return self._keys.get_or_load(("wrapped", key_id, wrapped), lambda: self._unwrap(key_id, wrapped, period))

    def _unwrap(self, key_id: str, wrapped: bytes, period: str) -> bytes:
        try:
            key = self._kms.decrypt(CiphertextBlob=wrapped, KeyId=key_id, EncryptionContext=_data_key_context(period))[
                "Plaintext"
            ]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _UNDECRYPTABLE:
                raise DecryptionFailed("data key rejected by KMS") from exc
            raise
        if len(key) != aes_gcm.KEY_BYTES:
            raise DecryptionFailed("not a data key")
        return key
