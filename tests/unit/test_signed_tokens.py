import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from chalicelib.security.signed_tokens import TokenClaims, TokenRejected, issue, verify

SECRET = b"s" * 32
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def _session(**overrides):
    args = {"purpose": "session", "subject": "seller-1", "now": NOW, "ttl_seconds": 3600, "nonce": "n1"}
    return issue(SECRET, **{**args, **overrides})


def _b64(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _reason(token, *, secret=SECRET, purpose="session", now=NOW):
    with pytest.raises(TokenRejected) as caught:
        verify(secret, token, purpose=purpose, now=now)
    return caught.value.reason


def test_round_trip_returns_the_claims():
    claims = verify(SECRET, _session(), purpose="session", now=NOW + timedelta(seconds=10))

    assert claims == TokenClaims(
        subject="seller-1", nonce="n1", issued_at=NOW, expires_at=NOW + timedelta(seconds=3600)
    )


def test_token_is_two_unpadded_base64url_parts_with_the_documented_payload():
    body, signature = _session().split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))

    assert "=" not in body + signature
    assert payload == {
        "purpose": "session",
        "sub": "seller-1",
        "iat": int(NOW.timestamp()),
        "exp": int(NOW.timestamp()) + 3600,
        "nonce": "n1",
    }


def test_a_random_nonce_is_drawn_when_none_is_given():
    first = verify(SECRET, _session(nonce=None), purpose="session", now=NOW)
    second = verify(SECRET, _session(nonce=None), purpose="session", now=NOW)

    assert len(first.nonce) >= 16
    assert first.nonce != second.nonce


def test_unicode_subject_survives():
    claims = verify(SECRET, _session(subject="卖家小店"), purpose="session", now=NOW)

    assert claims.subject == "卖家小店"


def test_expires_exactly_at_exp():
    token = _session(ttl_seconds=60)

    assert verify(SECRET, token, purpose="session", now=NOW + timedelta(seconds=59)).subject == "seller-1"
    assert _reason(token, now=NOW + timedelta(seconds=60)) == "expired"


def test_wrong_purpose_is_rejected():
    assert _reason(_session(purpose="oauth_state")) == "wrong purpose"


def test_other_secret_is_rejected():
    assert _reason(_session(), secret=b"t" * 32) == "bad signature"


def test_forged_payload_with_the_original_signature_is_rejected():
    body, signature = _session().split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["sub"] = "seller-2"
    forged = _b64(json.dumps(payload).encode())

    assert _reason(f"{forged}.{signature}") == "bad signature"


@pytest.mark.parametrize(
    "token",
    ["", "nodot", ".sig", "a.b.c", "é.x", "x" * 5000],
)
def test_malformed_tokens_are_rejected(token):
    assert _reason(token) == "malformed"


@pytest.mark.parametrize("payload", [b'["not", "claims"]', b"not json", b'{"purpose": "session"}'])
def test_correctly_signed_but_unusable_payload_is_malformed(payload):
    body = _b64(payload)
    signature = _b64(hmac.new(SECRET, body.encode(), hashlib.sha256).digest())

    assert _reason(f"{body}.{signature}") == "malformed"


def test_naive_clock_is_a_programming_error():
    with pytest.raises(ValueError):
        issue(SECRET, purpose="session", subject="s", now=datetime(2025, 1, 1), ttl_seconds=60)
    with pytest.raises(ValueError):
        verify(SECRET, _session(), purpose="session", now=datetime(2025, 1, 1))


@pytest.mark.parametrize(("secret", "purpose", "ttl"), [(b"", "session", 60), (SECRET, "", 60), (SECRET, "session", 0)])
def test_issue_refuses_unusable_arguments(secret, purpose, ttl):
    with pytest.raises(ValueError):
        issue(secret, purpose=purpose, subject="s", now=NOW, ttl_seconds=ttl)


TOKEN = _session()
printable = st.characters(min_codepoint=0, max_codepoint=0x10FFFF)


@given(position=st.integers(min_value=0, max_value=len(TOKEN) - 1), replacement=printable)
def test_any_single_character_change_is_rejected(position, replacement):
    tampered = TOKEN[:position] + replacement + TOKEN[position + 1 :]
    assume(tampered != TOKEN)

    with pytest.raises(TokenRejected):
        verify(SECRET, tampered, purpose="session", now=NOW)


@given(position=st.integers(min_value=0, max_value=len(TOKEN) - 1))
def test_dropping_a_character_is_rejected(position):
    with pytest.raises(TokenRejected):
        verify(SECRET, TOKEN[:position] + TOKEN[position + 1 :], purpose="session", now=NOW)


@given(position=st.integers(min_value=0, max_value=len(TOKEN)), extra=st.sampled_from(["A", "-", ".", "="]))
def test_inserting_a_character_is_rejected(position, extra):
    with pytest.raises(TokenRejected):
        verify(SECRET, TOKEN[:position] + extra + TOKEN[position:], purpose="session", now=NOW)
