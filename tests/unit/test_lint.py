import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import chalicelib
from chalicelib.domain.lint import lint
from chalicelib.domain.rules import parse_rules

DEFAULT = json.loads((Path(chalicelib.__file__).parent / "rules_default.json").read_text("utf-8"))
RULES = parse_rules(DEFAULT)
CLEAN = "感谢亲的支持与信任，欢迎再次光临！"


def codes(content, rules=RULES, **kw):
    return [problem.code for problem in lint(content, rules, **kw)]


def test_clean_text_has_no_problems():
    assert lint(CLEAN, RULES) == []


def test_length_limit_is_inclusive():
    assert codes("好" * 500) == []
    assert codes("好" * 501) == ["too_long"]


def test_explanations_use_their_own_length_limit():
    rules = parse_rules(DEFAULT, {"version": "x", "content_max_length": 10, "explain_max_length": 20})
    assert codes("好" * 15, rules) == ["too_long"]
    assert codes("好" * 15, rules, kind="explain") == []
    assert codes("好" * 21, rules, kind="explain") == ["too_long"]


@pytest.mark.parametrize("text", ["好评返现哦", "加 微 信 有惊喜", "ＱＱ号多少", "加qq", "送红包"])
def test_banned_words_match_despite_width_case_and_spacing(text):
    assert "banned_word" in codes(text)


def test_banned_word_message_names_the_word():
    (problem,) = lint("返现", parse_rules(DEFAULT, {"version": "x", "banned_words": ["返现"]}))
    assert "返现" in problem.message


@pytest.mark.parametrize("text", ["详见http://x.cn", "看www.shop", "加vx:abc", "店铺 abc.com好", "ｗｗｗ．店"])
def test_banned_patterns_match(text):
    assert "banned_pattern" in codes(text)


@pytest.mark.parametrize("text", ["wxyz的包装很好", "服务很好"])
def test_banned_patterns_do_not_match_innocent_text(text):
    assert "banned_pattern" not in codes(text)


def test_buyer_nick_and_open_uid_are_refused_without_being_echoed():
    nick, uid = "tb_小明2024", "AAHKdWlpAAbbXXyyZZ0001"
    for text in (f"谢谢{nick}", "谢谢TB_小明2024", f"uid {uid.lower()}"):
        problems = lint(text, RULES, buyer_identifiers=[nick, uid])
        assert [p.code for p in problems] == ["buyer_identity"]
        assert all(nick not in p.message and uid not in p.message for p in problems)


def test_blank_or_one_letter_identifiers_are_ignored():
    assert codes(CLEAN, buyer_identifiers=["", " ", "亲"]) == []


@pytest.mark.parametrize(
    "text", ["电话13812345678", "138 1234 5678", "138-1234-5678", "+86 13912345678", "１３８１２３４５６７８"]
)
def test_phone_numbers_are_refused(text):
    assert codes(text) == ["phone_number"]


@pytest.mark.parametrize("text", ["12345678901", "1381234567", "订单2024年5月1日", "好评100分"])
def test_other_numbers_are_not_phone_numbers(text):
    assert codes(text) == []


@pytest.mark.parametrize("text", ["11010119900307451X", "110101199003074513", "110101900307451", "6222021234567890"])
def test_id_and_card_numbers_are_refused(text):
    assert codes(text) == ["id_number"]


@pytest.mark.parametrize(
    ("text", "at"),
    [
        ("联系微信：shop_888", 3),
        ("V信 shop888", 1),
        ("薇信shop888", 1),
        ("有事找扣扣 12345678", 4),
        ("ＱＱ：12345678", 1),
    ],
)
def test_wechat_and_qq_accounts_are_contact_details_named_by_position(text, at):
    (problem,) = lint(text, RULES, kind="explain")
    assert problem.code == "contact_account" and problem.message.endswith(f"starting at character {at}")
    assert not re.search(r"shop_?888|12345678", problem.message)  # never echoed


@pytest.mark.parametrize("text", ["微信支付很方便", "我们的微信公众号会发优惠", "尺码说明在qq群里", "店铺威信很高"])
def test_naming_an_app_without_an_account_is_fine(text):
    assert codes(text, kind="explain") == []


def test_digits_are_never_echoed_only_their_position():
    problems = lint("13812345678 11010119900307451X", RULES)
    assert {p.code for p in problems} == {"phone_number", "id_number"}
    positions = {p.code: re.sub(r"\D", "", p.message) for p in problems}
    # Counted from 1, as a seller counts: the phone starts at the first character, the id at the 13th.
    assert positions == {"phone_number": "1", "id_number": "13"}


def test_empty_good_review_is_allowed():
    assert codes("", result="good") == []
    assert codes("   ", result="good") == []


def test_results_the_market_does_not_allow_are_refused():
    assert codes(CLEAN, result="bad") == ["result_not_allowed"]


def test_empty_content_is_refused_for_non_good_results():
    rules = parse_rules(DEFAULT, {"version": "x", "allowed_results": ["good", "neutral"]})
    assert codes(" ", rules, result="neutral") == ["empty_content"]
    assert codes(CLEAN, rules, result="neutral") == []


def test_empty_explanation_is_refused_and_result_is_not_checked():
    assert codes("", kind="explain") == ["empty_content"]
    assert codes(CLEAN, kind="explain", result="bad") == []


@given(st.text(max_size=600), st.lists(st.text(max_size=12), max_size=3))
def test_lint_never_raises_nor_echoes_buyer_identifiers(text, identifiers):
    problems = lint(text, RULES, buyer_identifiers=identifiers)
    relevant = [i.strip() for i in identifiers if len(i.strip()) >= 4]
    for problem in problems:
        if problem.code == "buyer_identity":
            assert not any(ident in problem.message for ident in relevant)


@given(st.text(alphabet=st.characters(categories=["Lo", "Zs", "Po"]), max_size=100))
def test_text_without_digits_has_no_number_problems(text):
    assert not {"phone_number", "id_number"} & set(codes(text))


@given(st.text(alphabet="0123456789", min_size=15, max_size=19))
def test_any_long_digit_run_is_refused(digits):
    assert "id_number" in codes(f"号码{digits}")
