"""Properties of the TOP signature shared by outbound calls and inbound verification."""

from __future__ import annotations

import hashlib
import hmac
import random

from hypothesis import assume, given
from hypothesis import strategies as st

from chalicelib.marketplace.signing import SIGN_METHODS, sign, verify

names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_.", min_size=1, max_size=12)
values = st.text(min_size=1, max_size=20)
params_st = st.dictionaries(names, values, min_size=1, max_size=8)
secrets_st = st.text(min_size=1, max_size=24)
methods_st = st.sampled_from(SIGN_METHODS)


def test_md5_matches_the_documented_rule() -> None:
    params = {"method": "taobao.traderate.add", "app_key": "12345", "v": "2.0", "tid": "0"}
    text = "app_key12345methodtaobao.traderate.addtid0v2.0"
    assert sign(params, "s3cr3t") == hashlib.md5(f"s3cr3t{text}s3cr3t".encode()).hexdigest().upper()
    assert sign(params, "s3cr3t", "hmac-sha256") == (
        hmac.new(b"s3cr3t", text.encode(), hashlib.sha256).hexdigest().upper()
    )


def test_empty_values_and_the_sign_param_are_not_signed() -> None:
    params = {"a": "1", "b": "2"}
    assert sign({**params, "c": "", "d": None, "sign": "X"}, "k") == sign(params, "k")
    assert sign({**params, "z": "0"}, "k") != sign(params, "k")


@given(params_st, secrets_st, methods_st, st.randoms(use_true_random=False))
def test_order_of_params_does_not_matter(params: dict, secret: str, method: str, rnd: random.Random) -> None:
    items = list(params.items())
    rnd.shuffle(items)
    assert sign(dict(items), secret, method) == sign(params, secret, method)


@given(params_st, secrets_st, methods_st, st.data())
def test_changing_any_value_changes_the_sign(params: dict, secret: str, method: str, data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(params)))
    new_value = data.draw(values.filter(lambda v: v != params[name]))
    assert sign({**params, name: new_value}, secret, method) != sign(params, secret, method)


@given(params_st, secrets_st, secrets_st, methods_st)
def test_changing_the_secret_changes_the_sign(params: dict, secret: str, other: str, method: str) -> None:
    assume(secret != other)
    assert sign(params, secret, method) != sign(params, other, method)


@given(params_st, secrets_st)
def test_the_three_methods_differ(params: dict, secret: str) -> None:
    assert len({sign(params, secret, method) for method in SIGN_METHODS}) == 3


@given(params_st, secrets_st, methods_st, st.binary(min_size=1, max_size=64))
def test_the_body_is_signed(params: dict, secret: str, method: str, body: bytes) -> None:
    assert sign(params, secret, method, body=body) != sign(params, secret, method)
    assert verify(params, secret, sign(params, secret, method, body=body), method, body=body)


@given(params_st, secrets_st, methods_st)
def test_verify_accepts_what_sign_produces(params: dict, secret: str, method: str) -> None:
    signature = sign(params, secret, method)
    assert verify(params, secret, signature, method)
    assert verify(params, secret, signature.lower(), method)


@given(params_st, secrets_st, methods_st, st.text(alphabet="0123456789ABCDEF", min_size=1, max_size=64))
def test_verify_rejects_any_other_signature(params: dict, secret: str, method: str, forged: str) -> None:
    assume(forged != sign(params, secret, method))
    assert not verify(params, secret, forged, method)


@given(params_st, secrets_st, secrets_st, methods_st)
def test_verify_rejects_a_wrong_secret_method_or_empty_signature(
    params: dict, secret: str, other: str, method: str
) -> None:
    assume(secret != other)
    signature = sign(params, secret, method)
    assert not verify(params, other, signature, method)
    assert not verify(params, secret, signature, next(m for m in SIGN_METHODS if m != method))
    assert not verify(params, secret, signature, "sha1")
    assert not verify(params, secret, "", method)
