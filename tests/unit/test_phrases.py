"""The built-in phrase library: enough phrases per product type, each clean under the marketplace rules, and
the choice of a text never gives one buyer the same text twice in a row."""

import json
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import chalicelib
from chalicelib.domain.lint import lint
from chalicelib.domain.phrases import (
    PHRASE_TYPES,
    LibraryInvalid,
    choose_text,
    parse_library,
    review_pool,
    text_key,
)
from chalicelib.domain.rules import parse_rules
from chalicelib.domain.templates import template_errors
from chalicelib.store.phrase_data import LIBRARY_FILE, library

RULES = parse_rules(json.loads((Path(chalicelib.__file__).parent / "rules_default.json").read_text("utf-8")))
NAMES = {"服装", "食品", "美妆", "数码", "家居", "母婴", "图书", "通用"}


def test_the_library_has_200_distinct_phrases_in_8_product_types():
    lib = library()
    assert set(lib.groups) == set(PHRASE_TYPES)
    assert {g.name("zh_CN") for g in lib.groups.values()} == NAMES
    assert all(len(g.phrases) >= 25 for g in lib.groups.values())
    assert len(lib.phrases(PHRASE_TYPES)) >= 200


@pytest.mark.parametrize("key", PHRASE_TYPES)
def test_every_phrase_passes_the_content_lint(key):
    for phrase in library().groups[key].phrases:
        assert not template_errors(phrase), phrase
        assert lint(phrase, RULES, kind="review") == [], phrase
        assert len(phrase) <= RULES.content_max_length


def test_every_type_is_named_in_both_languages():
    document = json.loads(LIBRARY_FILE.read_text("utf-8"))
    assert all(set(body["names"]) == {"zh_CN", "en"} for body in document["types"].values())


@pytest.mark.parametrize(
    "document",
    [{}, {"types": []}, {"types": {"weapons": {"names": {"zh_CN": "x"}, "phrases": ["a"]}}}, {"types": {"food": {}}}],
)
def test_a_malformed_library_is_refused(document):
    with pytest.raises(LibraryInvalid):
        parse_library(document)


def test_the_pool_is_the_seller_s_lines_then_the_picked_types():
    lib = library()
    pool = review_pool(("我的话",), ("food", "books"), lib)
    assert pool[0] == "我的话"
    assert set(pool[1:]) == set(lib.groups["food"].phrases) | set(lib.groups["books"].phrases)
    assert review_pool(("我的话",), (), lib) == ("我的话",)


@given(
    size=st.integers(1, 40),
    tids=st.lists(st.integers(1, 10**15), min_size=2, max_size=30),
    strategy=st.sampled_from(["rotate", "random"]),
)
def test_one_buyer_never_gets_the_same_text_twice_in_a_row(size, tids, strategy):
    pool = [f"第{n}句" for n in range(size)]
    last = None
    given_texts = []
    for tid in tids:
        index = choose_text(pool, strategy, str(tid), tid, avoid=last)
        given_texts.append(pool[index])
        last = text_key(pool[index])
    if size > 1:
        assert all(a != b for a, b in pairwise(given_texts))


def test_the_choice_is_the_strategy_s_unless_it_repeats():
    pool = ["一", "二", "三"]
    assert choose_text(pool, "rotate", "1", 4) == 1
    assert choose_text(pool, "rotate", "1", 4, avoid=text_key("二")) == 2
    assert choose_text(["一"], "rotate", "1", 4, avoid=text_key("一")) == 0
