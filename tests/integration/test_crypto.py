"""Seller tokens under envelope encryption (``security.crypto``): the month's data key, wrapped by KMS, shared by
every container through one Control item, unwrapped once an hour per container; tokens sealed with AES-GCM and
bound to their encryption context."""

import base64
import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from chalicelib.runtime import TtlCache
from chalicelib.security import aes_gcm
from chalicelib.security.crypto import DecryptionFailed, TokenCipher, data_key_period

pytestmark = pytest.mark.skipif(not aes_gcm.available(), reason="no OpenSSL libcrypto with AES-GCM on this machine")

CONTEXT = {"seller_id": "1001", "field": "access_token"}
TOKEN = "6201a9f0c3e4b5d6e7f8091a2b3c4d5e6f7a8b9c0d1e"
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


class RecordingKms:
    """Passes calls to the real (mocked) client and remembers what went in."""

    def __init__(self, client):
        self._client = client
        self.calls = []

    def generate_data_key(self, **kwargs):
        self.calls.append(("generate_data_key", kwargs))
        return self._client.generate_data_key(**kwargs)

    def decrypt(self, **kwargs):
        self.calls.append(("decrypt", kwargs))
        return self._client.decrypt(**kwargs)


class MemoryKeys:
    """``SharedDataKeys`` in a dict, as one Control table seen by several containers."""

    def __init__(self):
        self.kept = {}

    def get(self, period):
        return self.kept.get(period)

    def put_new(self, period, key_id, wrapped, *, now):
        if period in self.kept:
            return False
        self.kept[period] = (key_id, wrapped)
        return True


@pytest.fixture
def kms(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield RecordingKms(boto3.client("kms"))


@pytest.fixture
def key_id(kms):
    return kms._client.create_key(Description="seller tokens")["KeyMetadata"]["KeyId"]


@pytest.fixture
def shared():
    return MemoryKeys()


def make_cipher(kms, key_id, shared, *, now=NOW):
    """A container's cipher: its own key cache, the shared month keys."""
    clock = {"now": now}
    cipher = TokenCipher(kms, key_id, shared=shared, keys=TtlCache(3600), now=lambda: clock["now"])
    return cipher, clock


@pytest.fixture
def cipher(kms, key_id, shared):
    return make_cipher(kms, key_id, shared)[0]


def _flip(b64: str) -> str:
    raw = bytearray(base64.b64decode(b64))
    raw[len(raw) // 2] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


@pytest.mark.parametrize("plaintext", [TOKEN, "", "令牌-✓", "x" * 10_000])
def test_round_trip(cipher, plaintext):
    blob = cipher.encrypt(plaintext, context=CONTEXT)

    assert cipher.decrypt(blob, context=dict(CONTEXT)) == plaintext


def test_blob_is_json_with_the_documented_fields_and_no_plaintext(cipher, key_id):
    blob = cipher.encrypt(TOKEN, context=CONTEXT)

    restored = json.loads(json.dumps(blob))
    assert set(restored) == {"v", "key_id", "p", "dk", "ct"}
    assert restored["v"] == 3 and restored["p"] == "2026-12"
    assert key_id in restored["key_id"]
    assert TOKEN not in json.dumps(blob)
    assert cipher.decrypt(restored, context=CONTEXT) == TOKEN


def test_each_encryption_gives_a_new_ciphertext_under_the_same_data_key(cipher):
    first = cipher.encrypt(TOKEN, context=CONTEXT)
    second = cipher.encrypt(TOKEN, context=CONTEXT)

    assert first["ct"] != second["ct"] and first["dk"] == second["dk"]


def test_kms_is_asked_once_per_data_key_not_once_per_token(kms, key_id, shared):
    writer, _ = make_cipher(kms, key_id, shared)
    blobs = [writer.encrypt(f"token-{n}", context={"seller_id": str(n)}) for n in range(50)]
    reader, _ = make_cipher(kms, key_id, shared)  # another container

    opened = [reader.decrypt(blob, context={"seller_id": str(n)}) for n, blob in enumerate(blobs)]

    assert opened == [f"token-{n}" for n in range(50)]
    (made, made_args), (unwrap, unwrap_args) = kms.calls
    assert (made, unwrap) == ("generate_data_key", "decrypt")
    assert made_args["KeyId"] == key_id and made_args["KeySpec"] == "AES_256"
    context = {"purpose": "token-data-key", "period": "2026-12"}
    assert made_args["EncryptionContext"] == unwrap_args["EncryptionContext"] == context
    assert not any(f"token-{n}" in repr(args) for _, args in kms.calls for n in range(50))


def test_containers_share_the_months_key_and_a_new_month_makes_a_new_one(kms, key_id, shared):
    first, clock = make_cipher(kms, key_id, shared)
    second, _ = make_cipher(kms, key_id, shared)

    january = first.encrypt(TOKEN, context=CONTEXT)
    same_month = second.encrypt(TOKEN, context=CONTEXT)
    clock["now"] = NOW + timedelta(days=31)
    next_month = first.encrypt(TOKEN, context=CONTEXT)

    assert january["dk"] == same_month["dk"] != next_month["dk"]
    assert [name for name, _ in kms.calls].count("generate_data_key") == 2
    assert set(shared.kept) == {"2026-12", "2027-01"}
    assert second.decrypt(next_month, context=CONTEXT) == TOKEN


def test_a_container_that_loses_the_race_for_the_months_key_uses_the_kept_one(kms, key_id):
    class LateKeys(MemoryKeys):
        """Another container kept its key between this one's read and write."""

        def __init__(self, other):
            super().__init__()
            self.other = other

        def put_new(self, period, key_id, wrapped, *, now):
            self.kept[period] = self.other
            return False

    rival, _ = make_cipher(kms, key_id, MemoryKeys())
    rival_blob = rival.encrypt(TOKEN, context=CONTEXT)
    kept = (rival_blob["key_id"], base64.b64decode(rival_blob["dk"]))
    late, _ = make_cipher(kms, key_id, LateKeys(kept))

    blob = late.encrypt(TOKEN, context=CONTEXT)

    assert blob["dk"] == rival_blob["dk"]
    assert rival.decrypt(blob, context=CONTEXT) == TOKEN


def test_the_cipher_keeps_no_plaintext(cipher):
    cipher.decrypt(cipher.encrypt(TOKEN, context=CONTEXT), context=CONTEXT)

    kept = [getattr(cipher, slot) for slot in TokenCipher.__slots__]
    assert not hasattr(cipher, "__dict__")
    assert not any(TOKEN in repr(value) for value in kept)


@pytest.mark.parametrize(
    "context",
    [
        {"seller_id": "1002", "field": "access_token"},
        {"seller_id": "1001", "field": "refresh_token"},
        {"seller_id": "1001"},
        {**CONTEXT, "extra": "x"},
    ],
)
def test_other_context_cannot_decrypt(cipher, context):
    blob = cipher.encrypt(TOKEN, context=CONTEXT)

    with pytest.raises(DecryptionFailed):
        cipher.decrypt(blob, context=context)


@pytest.mark.parametrize("field", ["ct", "dk"])
def test_tampered_ciphertext_or_data_key_is_detected(kms, key_id, shared, field):
    writer, _ = make_cipher(kms, key_id, shared)
    blob = writer.encrypt(TOKEN, context=CONTEXT)
    reader, _ = make_cipher(kms, key_id, shared)

    with pytest.raises(DecryptionFailed):
        reader.decrypt({**blob, field: _flip(blob[field])}, context=CONTEXT)


def test_a_blob_moved_to_another_month_is_refused(kms, key_id, shared):
    blob = make_cipher(kms, key_id, shared)[0].encrypt(TOKEN, context=CONTEXT)
    reader, _ = make_cipher(kms, key_id, shared)

    with pytest.raises(DecryptionFailed):
        reader.decrypt({**blob, "p": "2026-11"}, context=CONTEXT)


def test_swapped_key_id_is_refused(kms, key_id, shared):
    blob = make_cipher(kms, key_id, shared)[0].encrypt(TOKEN, context=CONTEXT)
    reader, _ = make_cipher(kms, key_id, shared)
    other_key = kms._client.create_key()["KeyMetadata"]["Arn"]

    # KMS answers IncorrectKeyException (→ DecryptionFailed); moto answers AccessDeniedException instead.
    with pytest.raises((DecryptionFailed, ClientError)):
        reader.decrypt({**blob, "key_id": other_key}, context=CONTEXT)


@pytest.mark.parametrize(
    "change",
    [
        {"v": 2},
        {"v": "3"},
        {"ct": "not base64!"},
        {"ct": ""},
        {"ct": None},
        {"dk": ""},
        {"dk": None},
        {"key_id": None},
        {"key_id": ""},
        {"p": None},
        {"p": ""},
    ],
)
def test_malformed_blob_is_rejected(cipher, change):
    blob = cipher.encrypt(TOKEN, context=CONTEXT)

    with pytest.raises(DecryptionFailed):
        cipher.decrypt({**blob, **change}, context=CONTEXT)


@pytest.mark.parametrize("blob", [{}, None, "text", []])
def test_non_blobs_are_rejected(cipher, blob):
    with pytest.raises(DecryptionFailed):
        cipher.decrypt(blob, context=CONTEXT)


def test_blobs_from_a_previous_kms_key_still_decrypt(kms, key_id, shared):
    old_blob = make_cipher(kms, key_id, shared)[0].encrypt(TOKEN, context=CONTEXT)
    rotated, _ = make_cipher(kms, kms._client.create_key()["KeyMetadata"]["KeyId"], MemoryKeys())

    assert rotated.decrypt(old_blob, context=CONTEXT) == TOKEN


def test_an_encryption_context_is_required(cipher):
    with pytest.raises(ValueError):
        cipher.encrypt(TOKEN, context={})


def test_the_month_of_a_data_key_is_utc():
    assert data_key_period(datetime(2026, 11, 30, 23, 59, tzinfo=UTC)) == "2026-11"
    assert data_key_period(datetime(2026, 12, 1, 0, 0, tzinfo=UTC)) == "2026-12"


def test_a_runtime_without_aes_gcm_fails_loudly_and_stores_nothing(kms, key_id, shared, monkeypatch):
    cipher, _ = make_cipher(kms, key_id, shared)
    blob = cipher.encrypt(TOKEN, context=CONTEXT)

    def missing():
        raise aes_gcm.Unavailable("no libcrypto")

    monkeypatch.setattr(aes_gcm, "_lib", missing)

    with pytest.raises(aes_gcm.Unavailable):
        cipher.encrypt(TOKEN, context=CONTEXT)
    # An operational fault, not a bad blob: the seller is not sent to authorize again.
    with pytest.raises(aes_gcm.Unavailable):
        cipher.decrypt(blob, context=CONTEXT)
    assert not aes_gcm.available()


def test_a_container_unwraps_a_data_key_once_whether_it_seals_or_opens_with_it(kms, key_id, shared):
    maker, _ = make_cipher(kms, key_id, shared)
    made = maker.encrypt(TOKEN, context=CONTEXT)
    assert maker.decrypt(made, context=CONTEXT) == TOKEN  # the key it made: no Decrypt
    taker, _ = make_cipher(kms, key_id, shared)

    sealed = taker.encrypt(TOKEN, context=CONTEXT)
    assert taker.decrypt(made, context=CONTEXT) == taker.decrypt(sealed, context=CONTEXT) == TOKEN

    assert [name for name, _ in kms.calls] == ["generate_data_key", "decrypt"]
