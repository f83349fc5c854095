"""The triage layer a seller can show in public: bad faith only for a demand tied to the rating (with the words
that tied them), automatic replies only for categories whose measured precision earned it, 无法判断 below the
measured confidence, mixed texts read as mixed, and corrections keyed by a hash of the text."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain import triage

DATA = Path(__file__).resolve().parents[2] / "chalicelib" / "data"
MODEL_DOC = json.loads((DATA / "triage_model.json").read_text(encoding="utf-8"))
MODEL = triage.TriageModel.from_document(MODEL_DOC)
CATEGORIES = triage.Categories.from_document(json.loads((DATA / "triage_categories.json").read_text("utf-8")))


@pytest.mark.parametrize(
    "text",
    [
        "差评，给我返二十块我就改成好评",
        "不给我补偿三十元就一直追评说你家货差",
        "想让我删差评？先赔一百块再说",
        "红包到位评价到位，不到位就差评",
        "不退款不退货，要么就等着收差评吧",
    ],
)
def test_a_demand_tied_to_the_rating_is_suspected_with_the_words_that_tied_them(text):
    found = triage.classify(MODEL, CATEGORIES, text)
    assert found.category == triage.BAD_FAITH and found.bad_faith == 1.0
    assert found.evidence and all(words in text.replace(" ", "") for words in found.evidence)


@pytest.mark.parametrize(
    "text",
    [
        "质量太差了，必须给差评，大家别买",
        "申请退款商家一直不处理，只能差评了",
        "说好的好评返现，给了好评一分钱没返",
        "商家打电话让我改差评还说给红包，我不改，东西就是差",
        "差评，赠品没送，问客服也不理",
        "卖家骚扰我让我删差评，打了好几个电话",
    ],
)
def test_an_angry_or_honest_complaint_that_mentions_差评_is_not_suspected(text):
    found = triage.classify(MODEL, CATEGORIES, text)
    assert found.category != triage.BAD_FAITH and found.evidence == () and found.bad_faith == 0.0


_COMPLAINTS = st.sampled_from(["质量太差", "物流太慢", "起球了", "色差严重", "客服不理人", "差评", "垃圾", "退货了"])


@given(st.lists(_COMPLAINTS, min_size=1, max_size=6))
def test_complaints_without_a_demand_are_never_suspected(parts):
    assert triage.classify(MODEL, CATEGORIES, "，".join(parts)).category != triage.BAD_FAITH


def _model(measured: dict | None, *, bad_faith: dict | None = None) -> triage.TriageModel:
    doc = {**MODEL_DOC, "measured": measured}
    if bad_faith is not None:
        doc["bad_faith"] = bad_faith
    return triage.TriageModel.from_document(doc)


def _reading(category: str, confidence: float = 0.99, evidence: tuple[str, ...] = ()) -> triage.Triage:
    return triage.Triage(category, confidence, "negative", 0.1, 1.0 if evidence else 0.0, evidence)


def test_only_a_category_measured_precise_enough_may_be_answered_automatically():
    every = frozenset(CATEGORIES.keys())
    measured = {
        "precision": {"logistics": 0.97, "price": 0.9, "packaging": 0.99, "bad_faith": 1.0, "unsure": 1.0},
        "support": {"logistics": 40, "price": 40, "packaging": 5, "bad_faith": 40, "unsure": 40},
        "at_confidence": 0.8,
    }
    model = _model(measured)
    assert model.measured.auto_eligible() == frozenset({"logistics"})  # packaging: 5 predictions prove little
    assert triage.may_auto_explain(_reading("logistics"), CATEGORIES, model, every)
    assert not triage.may_auto_explain(_reading("logistics", confidence=0.7), CATEGORIES, model, every)
    assert not triage.may_auto_explain(_reading("logistics"), CATEGORIES, model, frozenset({"price"}))
    for refused in ("price", "packaging", "bad_faith", "unsure"):
        assert not triage.may_auto_explain(_reading(refused), CATEGORIES, model, every)
    assert not triage.may_auto_explain(_reading("logistics", evidence=("返现就改好评",)), CATEGORIES, model, every)
    assert _model(None).measured.auto_eligible() == frozenset()  # nothing measured: nothing automatic


def test_below_the_measured_confidence_the_layer_says_it_cannot_tell():
    text = "还行吧，一般"
    confident = triage.classify(_model({"unsure_below": 0.0}), CATEGORIES, text)
    assert confident.category not in (triage.UNSURE, triage.BAD_FAITH)
    unsure = triage.classify(_model({"unsure_below": 1.0}), CATEGORIES, text)
    assert unsure.category == triage.UNSURE and unsure.confidence == confident.confidence
    assert CATEGORIES.get(triage.UNSURE).name("zh-CN") == "无法判断" and not CATEGORIES.get(triage.UNSURE).auto_explain
    assert triage.classify(MODEL, CATEGORIES, "  ").category == triage.UNSURE


@pytest.mark.parametrize(
    ("text", "reading"),
    [
        ("衣服很好看，就是有点起球", "mixed"),
        ("物流很快，可惜苹果有两个烂的", "mixed"),
        ("质量太差了，不推荐", "negative"),
        ("非常好，下次还来", "positive"),
    ],
)
def test_praise_and_a_complaint_together_read_as_mixed(text, reading):
    assert triage.classify(MODEL, CATEGORIES, text).sentiment == reading


@pytest.mark.parametrize(
    ("text", "denied", "kept"),
    [
        ("一点都不掉色，就是线头多", "掉色", "线头多"),
        ("没有色差，但是尺码偏小", "色差", "尺码偏小"),
        ("赠品也收到了，可是屏幕有坏点", "赠品", "屏幕有坏点"),
        ("分量很足，就是箱子破了", "分量", "箱子破了"),
        ("色差不大，主要是太短了", "色差", "太短了"),
        ("担心会起球，先说发货太慢", "起球", "发货太慢"),
        ("听说会掉色，目前还好，就是偏大", "掉色", "偏大"),
        ("赠品太廉价了，还不如不送", "赠品", "不如不送"),
    ],
)
def test_a_fault_the_buyer_denies_or_only_fears_is_not_read_as_evidence(text, denied, kept):
    read = triage.without_denied(text, MODEL.denied)
    assert kept in read
    assert denied not in read


@pytest.mark.parametrize(
    "text",
    [
        "是不是假货啊",
        "有没有色差自己不知道吗",
        "会不会掉色你们不测吗",
        "没有赠品",
        "东西不新鲜",
        "没味道",
        "赠品有问题",
        "没收到赠品，差评",
        "恐怕是假货",
        "掉色掉得可怕",
    ],
)
def test_a_question_a_missing_gift_and_a_complaint_stay_as_written(text):
    assert triage.without_denied(text, MODEL.denied) == text


@pytest.mark.parametrize(
    ("text", "not_this"),
    [
        ("一点都不掉色，就是线头多", "pilling_fading"),
        ("面膜不是假的，就是送的那两片没收到", "counterfeit"),
        ("赠品都收到了，但是衣服有破洞", "missing_gift"),
    ],
)
def test_a_rating_that_denies_a_fault_is_never_answered_for_it(text, not_this):
    every = frozenset(CATEGORIES.keys())
    read = triage.classify(MODEL, CATEGORIES, text)
    assert read.category != not_this
    without = triage.classify(dataclasses.replace(MODEL, denied=None), CATEGORIES, text)
    assert without.category == not_this  # what the same model answered before it knew denials
    assert triage.may_auto_explain(without, CATEGORIES, MODEL, every)


@pytest.mark.parametrize(
    "broken",
    [
        {"denied": "one pattern, not a list"},
        {"denied": ["("]},
        {"denied": ["x" * 400]},
        {"denied": []},
        {"measured": {"precision": {"logistics": 2}}},
        {"measured": {"unsure_below": "x"}},
        {"bad_faith": {"ties": ["("]}},
        {"bad_faith": {"parts": {"D": "红包"}, "ties": ["{D}" + "x" * 400]}},
        {"bad_faith": {"ties": "not a list"}},
    ],
)
def test_a_model_with_broken_measurements_or_bad_faith_rules_is_refused(broken):
    with pytest.raises(triage.TriageModelInvalid):
        triage.TriageModel.from_document({**MODEL_DOC, **broken})


def test_a_categories_document_cannot_make_bad_faith_or_unsure_automatic_and_must_have_both():
    doc = json.loads((DATA / "triage_categories.json").read_text("utf-8"))
    for item in doc["categories"]:
        item["auto_explain"] = True
    parsed = triage.Categories.from_document(doc)
    assert not parsed.get("bad_faith").auto_explain and not parsed.get("unsure").auto_explain
    doc["categories"] = [item for item in doc["categories"] if item["key"] != "unsure"]
    with pytest.raises(triage.TriageModelInvalid):
        triage.Categories.from_document(doc)


def test_the_bad_faith_page_name_judges_no_buyer():
    name = CATEGORIES.get(triage.BAD_FAITH).name("zh-CN")
    assert name == "疑似以评价要挟" and "恶意" not in name


def test_a_correction_is_keyed_by_the_text_not_by_who_wrote_it():
    assert triage.text_key("色差 太大 了１２") == triage.text_key("色差太大了12")
    assert len(triage.text_key("色差太大了")) == 64 and "色差" not in triage.text_key("色差太大了")
    assert triage.anonymised("差评，电话13812345678，订单20261207") == "差评，电话#，订单#"
