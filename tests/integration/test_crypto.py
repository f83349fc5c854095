import base64
import json

import boto3
import pytest
from moto import mock_aws

from chalicelib.security.crypto import DecryptionFailed, TokenCipher

CONTEXT = {"seller_id": "1001", "field": "access_token"}
TOKEN = "6201a9f0c3e4b5d6e7f8091a2b3c4d5e6f7a8b9c0d1e"


class RecordingKms:
    """Passes calls to the real (mocked) client and remembers what went in and came out."""

    def __init__(self, client):
        self._client = client
        self.calls = []

    def generate_data_key(self, **kwargs):
        response = self._client.generate_data_key(**kwargs)
        self.calls.append(("generate_data_key", kwargs, response))
        return response

    def decrypt(self, **kwargs):
        response = self._client.decrypt(**kwargs)
        self.calls.append(("decrypt", kwargs, response))
        return response


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
    assert set(restored) == {"v", "key_id", "edk", "nonce", "ct"}
    assert restored["v"] == 1
    assert key_id in restored["key_id"]
    assert TOKEN not in json.dumps(blob)
    assert cipher.decrypt(restored, context=CONTEXT) == TOKEN


def test_each_encryption_uses_a_fresh_data_key_and_nonce(cipher):
    first = cipher.encrypt(TOKEN, context=CONTEXT)
    second = cipher.encrypt(TOKEN, context=CONTEXT)

    assert first["edk"] != second["edk"]
    assert first["nonce"] != second["nonce"]
    assert first["ct"] != second["ct"]


def test_data_key_is_requested_as_aes_256_under_the_context(kms, key_id):
    recording = RecordingKms(kms)

    TokenCipher(recording, key_id).encrypt(TOKEN, context=CONTEXT)

    ((name, request, _),) = recording.calls
    assert name == "generate_data_key"
    assert request == {"KeyId": key_id, "KeySpec": "AES_256", "EncryptionContext": CONTEXT}


def test_plaintext_data_key_is_neither_kept_nor_stored(kms, key_id):
    recording = RecordingKms(kms)
    cipher = TokenCipher(recording, key_id)

    blob = cipher.encrypt(TOKEN, context=CONTEXT)
    cipher.decrypt(blob, context=CONTEXT)

    data_keys = [response["Plaintext"] for _, _, response in recording.calls]
    assert len(data_keys) == 2 and data_keys[0] == data_keys[1]
    kept = [getattr(cipher, slot) for slot in TokenCipher.__slots__]
    assert not hasattr(cipher, "__dict__")
    assert data_keys[0] not in kept
    assert base64.b64encode(data_keys[0]).decode() not in json.dumps(blob)


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


@pytest.mark.parametrize("field", ["edk", "nonce", "ct"])
def test_tampered_field_is_detected(cipher, field):
    blob = cipher.encrypt(TOKEN, context=CONTEXT)

    with pytest.raises(DecryptionFailed):
        cipher.decrypt({**blob, field: _flip(blob[field])}, context=CONTEXT)


def test_swapped_key_id_is_detected(cipher, kms):
    blob = cipher.encrypt(TOKEN, context=CONTEXT)
    other_key = kms.create_key()["KeyMetadata"]["Arn"]

    with pytest.raises(DecryptionFailed):
        cipher.decrypt({**blob, "key_id": other_key}, context=CONTEXT)


def test_ciphertext_moved_to_another_blob_is_detected(cipher):
    first = cipher.encrypt(TOKEN, context=CONTEXT)
    second = cipher.encrypt("other-token", context=CONTEXT)

    with pytest.raises(DecryptionFailed):
        cipher.decrypt({**first, "ct": second["ct"]}, context=CONTEXT)


@pytest.mark.parametrize(
    "change",
    [
        {"v": 2},
        {"edk": "not base64!"},
        {"nonce": ""},
        {"ct": None},
        {"key_id": None},
        {"v": "1"},
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
