from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.market_time import parse_market_time
from chalicelib.domain.templates import (
    VARIABLES,
    TemplateInvalid,
    choose_template,
    render,
    template_errors,
    variables_for,
)

VALUES = {"buyer_masked": "t***1", "item_title": "羊毛围巾", "shop_name": "小店", "trade_date": "2024-05-01"}


@pytest.mark.parametrize(
    "text",
    ["", "谢谢亲！", "{buyer_masked}您好，{item_title}已收到", "{{不是变量}}", "{shop_name}{trade_date}"],
)
def test_valid_templates_have_no_errors(text):
    assert template_errors(text) == []


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("感谢{buyer_nick}", "unknown variable 'buyer_nick' at position 3"),
        ("感谢{}", "unknown variable '' at position 3"),
        ("感谢{item_title.__class__}", "unknown variable"),
        ("感谢{item_title!r}", "unknown variable"),
        ("感谢{shop_name", "unclosed '{'"),
        ("感谢}", "unmatched '}'"),
        ("{a{shop_name}", "unclosed '{' at position 1"),
    ],
)
def test_invalid_templates_say_why(text, fragment):
    errors = template_errors(text)
    assert errors
    assert any(fragment in error for error in errors)


def test_every_error_is_reported():
    assert len(template_errors("{x}{y} } {")) == 4


def test_render_fills_variables():
    assert render("{buyer_masked}，{item_title}好评！", VALUES) == "t***1，羊毛围巾好评！"


def test_render_writes_escaped_braces_literally():
    assert render("{{shop_name}} {{{shop_name}}}", VALUES) == "{shop_name} {小店}"


def test_missing_variable_renders_empty():
    assert render("来自{shop_name}的感谢", {}) == "来自的感谢"


def test_values_are_not_interpreted():
    assert render("{item_title}", {"item_title": "{shop_name}}{"}) == "{shop_name}}{"


def test_render_refuses_an_invalid_template():
    with pytest.raises(TemplateInvalid) as info:
        render("{nick}", VALUES)
    assert info.value.errors == tuple(template_errors("{nick}"))


def test_trade_date_is_the_gmt8_day():
    # 16:30 UTC on 1 May is already 2 May in the market.
    end = parse_market_time("2024-05-02 00:30:00")
    variables = variables_for(buyer_masked="t***1", item_title="围巾", shop_name="小店", trade_end=end)
    assert variables == {"buyer_masked": "t***1", "item_title": "围巾", "shop_name": "小店", "trade_date": "2024-05-02"}
    assert set(variables) == VARIABLES


def test_rotate_uses_the_counter():
    templates = ["a", "b", "c"]
    assert [choose_template(templates, "rotate", "tid", n) for n in range(5)] == [0, 1, 2, 0, 1]


def test_random_is_stable_per_trade_and_spreads_over_trades():
    templates = ["a", "b", "c"]
    assert choose_template(templates, "random", "1234567890", 0) == choose_template(
        templates, "random", "1234567890", 9
    )
    picks = Counter(choose_template(templates, "random", str(tid), 0) for tid in range(3000))
    assert set(picks) == {0, 1, 2}
    assert min(picks.values()) > 800


def test_choose_refuses_no_templates_and_unknown_strategy():
    with pytest.raises(ValueError):
        choose_template([], "rotate", "t", 0)
    with pytest.raises(ValueError):
        choose_template(["a"], "shuffle", "t", 0)


_literal = st.text(alphabet=st.characters(blacklist_characters="{}"), max_size=8)
_piece = st.one_of(
    _literal.map(lambda s: (s, s)),
    st.sampled_from(["{{", "}}"]).map(lambda s: (s, s[0])),
    st.sampled_from(sorted(VARIABLES)).map(lambda name: ("{" + name + "}", VALUES[name])),
)


@given(st.lists(_piece, max_size=10))
def test_templates_built_from_valid_pieces_validate_and_render(pieces):
    text = "".join(source for source, _ in pieces)
    assert template_errors(text) == []
    assert render(text, VALUES) == "".join(expected for _, expected in pieces)


@given(st.lists(st.sampled_from(["{", "}", "a", "_", "shop_name", "item_title"]), max_size=15).map("".join))
def test_render_raises_exactly_when_the_template_has_errors(text):
    errors = template_errors(text)
    try:
        render(text, VALUES)
    except TemplateInvalid:
        assert errors
    else:
        assert errors == []


@given(st.text(max_size=40), st.dictionaries(st.sampled_from(sorted(VARIABLES)), st.text(max_size=10)))
def test_validated_templates_always_render(text, values):
    if not template_errors(text):
        assert isinstance(render(text, values), str)


@given(st.lists(st.text(min_size=1), min_size=1, max_size=20), st.text(), st.integers())
def test_choice_is_always_a_valid_index(templates, tid, counter):
    for strategy in ("rotate", "random"):
        assert 0 <= choose_template(templates, strategy, tid, counter) < len(templates)
