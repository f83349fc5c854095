"""Complaint triage: the shipped model reads clear complaints right, model documents are checked, and a rating
that may be an extortion attempt is never answered automatically (see test_triage_trust)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain import triage

DATA = Path(__file__).resolve().parents[2] / "chalicelib" / "data"
MODEL = triage.TriageModel.from_document(json.loads((DATA / "triage_model.json").read_text(encoding="utf-8")))
CATEGORIES = triage.Categories.from_document(json.loads((DATA / "triage_categories.json").read_text("utf-8")))


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("快递太慢了，等了十天才收到", "logistics"),
        ("不给我返现二十块就给差评", "bad_faith"),
        ("包装太简陋，盒子都压扁了", "packaging"),
        ("衣服尺码偏小，穿不上", "size_fit"),
        ("客服态度很差，问什么都不回", "service"),
        ("毛衣穿了一次就起球了", "pilling_fading"),
        ("色差太大了，图片是白色收到是黄色", "color_diff"),
        ("芒果烂了好几个，一股酒味", "freshness"),
        ("说好的赠品没有送", "missing_gift"),
        ("假货，和专柜的完全不一样", "counterfeit"),
        ("说是五斤，称了才四斤，缺斤少两", "short_weight"),
    ],
)
def test_clear_complaints_are_read_right(text, category):
    assert triage.classify(MODEL, CATEGORIES, text).category == category


def test_the_reading_of_the_text():
    assert triage.classify(MODEL, CATEGORIES, "质量很好，非常满意，下次还来").sentiment == "positive"
    assert triage.classify(MODEL, CATEGORIES, "太差了，非常失望，再也不买了").sentiment == "negative"


def test_an_empty_text_is_unsure_with_no_confidence():
    found = triage.classify(MODEL, CATEGORIES, "  ")
    assert (found.category, found.confidence) == ("unsure", 0.0)


@given(st.text(max_size=3000))
def test_any_text_gets_a_known_category_and_probabilities(text):
    found = triage.classify(MODEL, CATEGORIES, text)
    assert found.category in CATEGORIES.by_key()
    assert 0.0 <= found.confidence <= 1.0 and 0.0 <= found.positive <= 1.0 and 0.0 <= found.bad_faith <= 1.0


@pytest.mark.parametrize(
    "broken",
    [
        {},
        {"format": "other"},
        {"format": triage.MODEL_FORMAT, "orders": [9]},
        {"format": triage.MODEL_FORMAT, "orders": [1], "sentiment": {"labels": ["a"], "scale": 1}},
        {
            "format": triage.MODEL_FORMAT,
            "orders": [1],
            "sentiment": {"labels": ["negative", "positive"], "scale": 1, "bias": [0], "grams": {}},
        },
    ],
)
def test_a_broken_model_document_is_refused(broken):
    with pytest.raises(triage.TriageModelInvalid):
        triage.TriageModel.from_document(broken)


def _keyword_only_model(keywords: dict) -> triage.TriageModel:
    """A model whose category is decided by keyword matches alone."""
    two = {"labels": ["negative", "positive"], "scale": 1, "bias": [0, 0], "grams": {}}
    category = {
        "labels": ["logistics", "other"],
        "scale": 1,
        "features": "presence",
        "bias": [0, 1],
        "grams": {triage.KEYWORD_PREFIX + "logistics": [5, 0]},
    }
    doc = {"format": triage.MODEL_FORMAT, "orders": [1], "keywords": keywords, "sentiment": two, "category": category}
    return triage.TriageModel.from_document(doc)


def test_a_keyword_pattern_of_the_model_is_a_feature_when_it_matches():
    model = _keyword_only_model({"logistics": ["快递.{0,4}慢"]})
    assert triage.classify(model, CATEGORIES, "快递实在太慢").category == "logistics"
    assert triage.classify(model, CATEGORIES, "颜色不好看").category == "other"


@pytest.mark.parametrize("keywords", [{"logistics": ["快递("]}, {"logistics": "快递"}, {"logistics": ["x" * 301]}])
def test_a_model_with_unusable_keyword_patterns_is_refused(keywords):
    with pytest.raises(triage.TriageModelInvalid):
        _keyword_only_model(keywords)


def test_seller_replies_come_before_the_defaults():
    logistics = CATEGORIES.get("logistics")
    assert triage.suggested_templates(logistics, {"logistics": ["抱歉"]}) == ("抱歉",)
    assert triage.suggested_templates(logistics, {}) == logistics.templates
