import re
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.security.buyer_id import buyer_hash, buyer_keys, mask_nick

SECRET = b"k" * 32
OTHER_SECRET = b"j" * 32

identifiers = st.text(min_size=1, max_size=40).filter(lambda s: unicodedata.normalize("NFC", s).strip())


@pytest.mark.parametrize(
    ("nick", "masked"),
    [
        ("tb_buyer1", "t***1"),
        ("ab", "a***"),
        ("a", "*"),
        ("abc", "a***c"),
        ("买家小王", "买***王"),
        ("王五", "王***"),
        ("张", "*"),
        ("  tb_buyer1 ", "t***1"),
        ("", ""),
    ],
)
def test_mask_nick(nick, masked):
    assert mask_nick(nick) == masked


@given(st.text(max_size=60))
def test_mask_never_shows_more_than_two_original_characters(nick):
    assert re.fullmatch(r"|\*|.\*\*\*.?", mask_nick(nick), flags=re.DOTALL)


def test_hash_is_lowercase_sha256_hex():
    assert re.fullmatch(r"[0-9a-f]{64}", buyer_hash(SECRET, "tb_buyer1", kind="nick"))


@given(identifiers)
def test_hash_is_stable_and_depends_on_the_secret(identifier):
    first = buyer_hash(SECRET, identifier, kind="nick")

    assert buyer_hash(SECRET, identifier, kind="nick") == first
    assert buyer_hash(OTHER_SECRET, identifier, kind="nick") != first


@given(identifiers)
def test_nick_and_open_uid_namespaces_never_collide(identifier):
    assert buyer_hash(SECRET, identifier, kind="nick") != buyer_hash(SECRET, identifier, kind="open_uid")


def test_hash_ignores_surrounding_space_and_unicode_composition():
    composed = "café买家"
    decomposed = unicodedata.normalize("NFD", composed)

    assert decomposed != composed
    assert buyer_hash(SECRET, f" {decomposed}\n", kind="nick") == buyer_hash(SECRET, composed, kind="nick")


def test_different_nicks_hash_differently():
    assert buyer_hash(SECRET, "tb_buyer1", kind="nick") != buyer_hash(SECRET, "tb_buyer2", kind="nick")


def test_hash_does_not_contain_the_identifier():
    assert "tb_buyer1" not in buyer_hash(SECRET, "tb_buyer1", kind="nick")


@pytest.mark.parametrize(
    ("secret", "identifier", "kind"),
    [(SECRET, "   ", "nick"), (SECRET, "", "open_uid"), (b"", "tb_buyer1", "nick"), (SECRET, "x", "email")],
)
def test_hash_refuses_empty_inputs_and_unknown_kinds(secret, identifier, kind):
    with pytest.raises(ValueError):
        buyer_hash(secret, identifier, kind=kind)


def test_buyer_keys_cover_nick_and_open_uid():
    keys = buyer_keys(SECRET, "tb_buyer1", "AAHk5d-EAAeGwJedwSHpg8bT")

    assert keys == (
        buyer_hash(SECRET, "tb_buyer1", kind="nick"),
        buyer_hash(SECRET, "AAHk5d-EAAeGwJedwSHpg8bT", kind="open_uid"),
    )


@pytest.mark.parametrize(("nick", "open_uid", "count"), [("tb_buyer1", None, 1), (None, "uid", 1), ("", " ", 0)])
def test_buyer_keys_skip_absent_identifiers(nick, open_uid, count):
    assert len(buyer_keys(SECRET, nick, open_uid)) == count


def test_a_blacklisted_open_uid_matches_the_same_buyer_seen_with_a_nick():
    blacklist = {buyer_hash(SECRET, "uid-42", kind="open_uid")}

    assert blacklist.intersection(buyer_keys(SECRET, "tb_buyer1", "uid-42"))
    assert not blacklist.intersection(buyer_keys(SECRET, "uid-42", None))
