"""Message catalogues: Chinese first, English on request, the same keys in both, stable codes."""

from __future__ import annotations

import pytest

from chalicelib import i18n


@pytest.mark.parametrize(
    ("header", "chosen", "lang"),
    [
        (None, None, "zh-CN"),
        ("en-US,en;q=0.9", None, "en"),
        ("fr-FR, en;q=0.5, zh-CN;q=0.8", None, "zh-CN"),
        ("de-DE", None, "zh-CN"),
        ("en-US", "zh-CN", "zh-CN"),
        ("zh-CN", "en", "en"),
        ("en;q=bogus, zh", "klingon", "zh-CN"),
    ],
)
def test_the_language_follows_the_sellers_choice_then_the_browser(header, chosen, lang):
    assert i18n.negotiate(header, chosen) == lang


def test_the_cookie_wins_over_the_header():
    assert i18n.request_language({"cookie": "a=1; hp_lang=en", "accept-language": "zh-CN"}) == "en"


def test_both_catalogues_cover_what_the_page_exports_and_errors_show():
    shown = ("page.", "state.", "value.", "explain.", "lint.", "csv.", "error.")
    zh = {k for k in i18n.catalogue("zh-CN") if k.startswith(shown)}
    en = {k for k in i18n.catalogue("en") if k.startswith(shown)}
    assert zh == en


def test_placeholders_fill_and_missing_keys_fall_back():
    assert i18n.text("page.sub.days_left", "zh-CN", days=3) == "剩余 3 天"
    assert i18n.text("page.sub.days_left", "en", days=3) == "3 days left"
    assert i18n.text("alert.plan_expiring", "en", days=1).startswith("您的服务")  # alerts are Chinese only
    assert i18n.text("no.such.key") == "no.such.key"


def test_domain_reasons_are_translated_by_shape():
    reason = i18n.reason("unknown variable 'buyer_nick' at position 3 (use one of ['a'])", "zh-CN")
    assert reason == "第 3 个字起的“{buyer_nick}”不是可用的变量，请点上方的【买家昵称】等按钮插入"
    assert i18n.reason("content contains the banned word '红包'", "zh-CN") == "含有平台禁用词“红包”"
    assert i18n.reason("something new", "zh-CN") == "something new"
    assert i18n.reason("unknown variable at position 3", "en") == "unknown variable at position 3"
    # pydantic's "Value error, " before a model's own check is not shown in either language
    assert i18n.reason("Value error, enter the buyer's nick or the order number", "en").startswith("enter the")
