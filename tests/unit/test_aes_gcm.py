"""AES-256-GCM through the runtime's libcrypto, checked against the GCM specification's vector and the
cryptography package (a development dependency, through moto) in both directions."""

import os

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.security import aes_gcm

pytestmark = pytest.mark.skipif(not aes_gcm.available(), reason="no OpenSSL libcrypto with AES-GCM on this machine")

KEYS = st.binary(min_size=32, max_size=32)
DATA = st.binary(max_size=300)


def test_the_gcm_specifications_aes_256_vector_opens():
    # Test case 16 of McGrew and Viega's GCM specification (AES-256, 60 bytes, 20 bytes of associated data).
    key = bytes.fromhex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")
    nonce = bytes.fromhex("cafebabefacedbaddecaf888")
    aad = bytes.fromhex("feedfacedeadbeeffeedfacedeadbeefabaddad2")
    plaintext = bytes.fromhex(
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5"
        "aa0de657ba637b39"
    )
    ciphertext = bytes.fromhex(
        "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e63"
        "93ba7a0abcc9f662"
    )
    tag = bytes.fromhex("76fc6ece0f4e1768cddf8853bb2d551b")

    assert aes_gcm.open_sealed(key, nonce + ciphertext + tag, aad) == plaintext


@settings(max_examples=60, deadline=None)
@given(key=KEYS, plaintext=DATA, aad=DATA)
def test_sealed_values_open_with_the_reference_implementation(key, plaintext, aad):
    sealed = aes_gcm.seal(key, plaintext, aad)

    assert len(sealed) == aes_gcm.NONCE_BYTES + len(plaintext) + aes_gcm.TAG_BYTES
    assert AESGCM(key).decrypt(sealed[:12], sealed[12:], aad or None) == plaintext
    assert aes_gcm.open_sealed(key, sealed, aad) == plaintext


@settings(max_examples=60, deadline=None)
@given(key=KEYS, plaintext=DATA, aad=DATA, nonce=st.binary(min_size=12, max_size=12))
def test_the_reference_implementations_values_open(key, plaintext, aad, nonce):
    sealed = nonce + AESGCM(key).encrypt(nonce, plaintext, aad or None)

    assert aes_gcm.open_sealed(key, sealed, aad) == plaintext


@settings(max_examples=60, deadline=None)
@given(key=KEYS, plaintext=DATA, aad=DATA, data=st.data())
def test_any_flipped_bit_is_refused(key, plaintext, aad, data):
    sealed = bytearray(aes_gcm.seal(key, plaintext, aad))
    where = data.draw(st.integers(0, len(sealed) * 8 - 1))
    sealed[where // 8] ^= 1 << (where % 8)

    with pytest.raises(aes_gcm.InvalidTag):
        aes_gcm.open_sealed(key, bytes(sealed), aad)


def test_other_associated_data_or_key_is_refused():
    key = os.urandom(32)
    sealed = aes_gcm.seal(key, b"session", b'{"seller_id":"1"}')

    with pytest.raises(aes_gcm.InvalidTag):
        aes_gcm.open_sealed(key, sealed, b'{"seller_id":"2"}')
    with pytest.raises(aes_gcm.InvalidTag):
        aes_gcm.open_sealed(os.urandom(32), sealed, b'{"seller_id":"1"}')


@pytest.mark.parametrize("sealed", [b"", b"x" * 27])
def test_values_shorter_than_nonce_and_tag_are_refused(sealed):
    with pytest.raises(aes_gcm.InvalidTag):
        aes_gcm.open_sealed(os.urandom(32), sealed)


@pytest.mark.parametrize("size", [0, 16, 31, 33])
def test_only_256_bit_keys_are_taken(size):
    with pytest.raises(ValueError):
        aes_gcm.seal(os.urandom(size), b"x")


def test_each_seal_draws_a_new_nonce():
    key = os.urandom(32)

    assert len({aes_gcm.seal(key, b"same")[:12] for _ in range(50)}) == 50
