import base64
import json

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from chalicelib.security.crypto import DecryptionFailed, TokenCipher

CONTEXT = {"seller_id": "1001", "field": "access_token"}
TOKEN = "6201a9f0c3e4b5d6e7f8091a2b3c4d5e6f7a8b9c0d1e"


class RecordingKms:
    """Passes calls to the real (mocked) client and remembers what went in."""

    def __init__(self, client):
        self._client = client
        self.calls = []

    def encrypt(self, **kwargs):
        self.calls.append(("encrypt", kwargs))
        return self._client.encrypt(**kwargs)

    def decrypt(self, **kwargs):
        self.calls.append(("decrypt", kwargs))
        return self._client.decrypt(**kwargs)


@pytest.fixture
def kms(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield boto3.client("kms")


@pytest.fixture
def key_id(kms):
    return kms.create_key(Description="seller tokens")["KeyMetadata"]["KeyId"]


@pytest.fixture
def cipher(kms, key_id):
    return TokenCipher(kms, key_id)


def _flip(b64: str) -> str:
    raw = bytearray(base64.b64decode(b64))
    raw[len(raw) // 2] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


@pytest.mark.parametrize("plaintext", [TOKEN, "", "令牌-✓"])
def test_round_trip(cipher, plaintext):
    blob = cipher.encrypt(plaintext, context=CONTEXT)

    assert cipher.decrypt(blob, context=dict(CONTEXT)) == plaintext


def test_blob_is_json_with_the_documented_fields_and_no_plaintext(cipher, key_id):
    blob = cipher.encrypt(TOKEN, context=CONTEXT)

    restored = json.loads(json.dumps(blob))
    assert set(restored) == {"v", "key_id", "ct"}
    assert restored["v"] == 2
    assert key_id in restored["key_id"]
    assert TOKEN not in json.dumps(blob)
    assert cipher.decrypt(restored, context=CONTEXT) == TOKEN


def test_each_encryption_gives_a_new_ciphertext(cipher):
    first = cipher.encrypt(TOKEN, context=CONTEXT)
    second = cipher.encrypt(TOKEN, context=CONTEXT)

    assert first["ct"] != second["ct"]


def test_kms_encrypts_and_decrypts_under_the_context_and_key(kms, key_id):
    recording = RecordingKms(kms)
    cipher = TokenCipher(recording, key_id)

    blob = cipher.encrypt(TOKEN, context=CONTEXT)
    cipher.decrypt(blob, context=CONTEXT)

    (encrypt, encrypt_args), (decrypt, decrypt_args) = recording.calls
    assert (encrypt, decrypt) == ("encrypt", "decrypt")
    assert encrypt_args["KeyId"] == key_id and encrypt_args["EncryptionContext"] == CONTEXT
    assert TOKEN.encode() in encrypt_args["Plaintext"]
    assert decrypt_args["EncryptionContext"] == CONTEXT and decrypt_args["KeyId"] == blob["key_id"]


def test_the_cipher_keeps_no_plaintext(kms, key_id):
    cipher = TokenCipher(kms, key_id)
    cipher.decrypt(cipher.encrypt(TOKEN, context=CONTEXT), context=CONTEXT)

    kept = [getattr(cipher, slot) for slot in TokenCipher.__slots__]
    assert not hasattr(cipher, "__dict__")
    assert not any(TOKEN in repr(value) for value in kept)


def test_a_value_over_the_kms_limit_is_refused(cipher):
    with pytest.raises(ValueError):
        cipher.encrypt("x" * 4096, context=CONTEXT)


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


def test_tampered_ciphertext_is_detected(cipher):
    blob = cipher.encrypt(TOKEN, context=CONTEXT)

    with pytest.raises(DecryptionFailed):
        cipher.decrypt({**blob, "ct": _flip(blob["ct"])}, context=CONTEXT)


def test_swapped_key_id_is_refused(cipher, kms):
    blob = cipher.encrypt(TOKEN, context=CONTEXT)
    other_key = kms.create_key()["KeyMetadata"]["Arn"]

    # KMS answers IncorrectKeyException (→ DecryptionFailed); moto answers AccessDeniedException instead.
    with pytest.raises((DecryptionFailed, ClientError)):
        cipher.decrypt({**blob, "key_id": other_key}, context=CONTEXT)


@pytest.mark.parametrize(
    "change",
    [
        {"v": 1},
        {"ct": "not base64!"},
        {"ct": ""},
        {"ct": None},
        {"key_id": None},
        {"key_id": ""},
        {"v": "2"},
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


def test_blobs_from_a_previous_key_still_decrypt(kms, key_id):
    old_blob = TokenCipher(kms, key_id).encrypt(TOKEN, context=CONTEXT)
    rotated = TokenCipher(kms, kms.create_key()["KeyMetadata"]["KeyId"])

    assert rotated.decrypt(old_blob, context=CONTEXT) == TOKEN


def test_an_encryption_context_is_required(cipher):
    with pytest.raises(ValueError):
        cipher.encrypt(TOKEN, context={})
