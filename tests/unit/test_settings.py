import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import chalicelib
from chalicelib.domain.plans import FEATURES, features_for
from chalicelib.domain.rules import parse_rules
from chalicelib.domain.settings import (
    MAX_TEMPLATES,
    SellerSettings,
    SettingsInvalid,
    apply_update,
    default_settings,
    effective_mode,
    validate_settings,
)

DEFAULT = json.loads((Path(chalicelib.__file__).parent / "rules_default.json").read_text("utf-8"))
RULES = parse_rules(DEFAULT)
BASIC = features_for("FW_GOODS-1000000-1", RULES)
PRO = features_for("FW_GOODS-1000000-2", RULES)


def valid(**changes):
    return {**default_settings().model_dump(), **changes}


def bad_fields(data, features=PRO, rules=RULES):
    with pytest.raises(SettingsInvalid) as info:
        validate_settings(data, features=features, rules=rules)
    return info.value.fields


@pytest.mark.parametrize("features", [frozenset(), BASIC, PRO])
def test_default_settings_are_valid_on_every_plan(features):
    assert validate_settings(default_settings().model_dump(), features=features, rules=RULES) == default_settings()


def test_defaults_are_conservative():
    s = default_settings()
    assert s.mode == "immediate"
    assert not (s.auto_blacklist_on_bad or s.auto_explain or s.dry_run)
    assert s.alerts.outbox
    assert s.templates


def test_default_margin_follows_the_rules_document():
    rules = parse_rules(DEFAULT, {"version": "x", "fallback_margin_hours": 36})
    assert default_settings(rules).fallback_margin_hours == 36
    assert default_settings(RULES).fallback_margin_hours == DEFAULT["fallback_margin_hours"]


def test_partial_input_takes_defaults():
    assert validate_settings({"mode": "delay", "delay_hours": 48}, features=PRO, rules=RULES).delay_hours == 48


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"mode": "later"}, "mode"),
        ({"delay_hours": 361}, "delay_hours"),
        ({"delay_hours": -1}, "delay_hours"),
        ({"fallback_margin_hours": 0}, "fallback_margin_hours"),
        ({"templates": []}, "templates"),
        ({"templates": ["好"] * (MAX_TEMPLATES + 1)}, "templates"),
        ({"templates": ["好", "  "]}, "templates"),
        ({"template_strategy": "shuffle"}, "template_strategy"),
        ({"on_buyer_neutral_or_bad": "retaliate"}, "on_buyer_neutral_or_bad"),
        ({"alerts": {"sns": "maybe"}}, "alerts.sns"),
        ({"alerts": {"sms": True}}, "alerts.sms"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_field_errors_name_the_field(changes, field):
    fields = bad_fields(valid(**changes))
    assert field in fields
    assert fields[field]


def test_settings_must_be_an_object():
    assert set(bad_fields(["mode"])) == {"settings"}


def test_fallback_margin_must_fit_the_window():
    assert "fallback_margin_hours" in bad_fields(valid(fallback_margin_hours=15 * 24))
    assert validate_settings(valid(fallback_margin_hours=15 * 24 - 1), features=PRO, rules=RULES)
    short = parse_rules(DEFAULT, {"version": "x", "rating_window_days": 7, "fallback_margin_hours": 12})
    assert "fallback_margin_hours" in bad_fields(valid(fallback_margin_hours=7 * 24), rules=short)


def test_template_variable_errors_are_per_template():
    fields = bad_fields(valid(templates=["谢谢{shop_name}", "谢谢{buyer_nick}"]))
    assert list(fields) == ["templates.1"]
    # Which name is wrong and where, counted from 1 as a seller counts.
    assert "unknown variable 'buyer_nick' at position 3" in fields["templates.1"]


def test_templates_are_linted_against_the_rules():
    fields = bad_fields(valid(templates=["好评返现，加微信"]))
    assert "返现" in fields["templates.0"]


def test_placeholders_do_not_trip_the_lint():
    rules = parse_rules(DEFAULT, {"version": "x", "banned_words": ["shop_name"]})
    assert validate_settings(valid(templates=["{shop_name}欢迎您"]), features=PRO, rules=rules)


def test_templates_are_linted_without_the_result_rule():
    rules = parse_rules(DEFAULT, {"version": "x", "allowed_results": []})
    assert validate_settings(valid(), features=PRO, rules=rules)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"mode": "after_buyer"}, "mode"),
        ({"mode": "delay"}, "mode"),
        ({"auto_blacklist_on_bad": True}, "auto_blacklist_on_bad"),
        ({"auto_explain": True, "explain_templates": ["感谢您的反馈"]}, "auto_explain"),
    ],
)
def test_features_the_plan_lacks_are_refused(changes, field):
    assert field in bad_fields(valid(**changes), features=frozenset({"immediate"}))
    assert validate_settings(valid(**changes), features=PRO, rules=RULES)


def test_basic_plan_allows_delay_but_not_after_buyer():
    assert validate_settings(valid(mode="delay"), features=BASIC, rules=RULES).mode == "delay"
    assert "not included in your plan" in bad_fields(valid(mode="after_buyer"), features=BASIC)["mode"]


def test_auto_explain_needs_no_general_template_since_every_category_has_its_replies():
    assert validate_settings(valid(auto_explain=True), features=PRO, rules=RULES).auto_explain


def test_per_category_replies_are_checked_as_explanations():
    fields = bad_fields(valid(explain_by_category={"logistics": ["抱歉物流慢了", "{x}", "加微信领红包"]}))
    assert set(fields) == {"explain_by_category.logistics.1", "explain_by_category.logistics.2"}


def test_explain_templates_are_checked_as_explanations():
    rules = parse_rules(DEFAULT, {"version": "x", "explain_max_length": 5})
    fields = bad_fields(valid(explain_templates=["非常抱歉给您带来不便", "{buyer_masked}", "{x}"]), rules=rules)
    assert set(fields) == {"explain_templates.0", "explain_templates.2"}


def test_all_bad_fields_are_reported_together():
    fields = bad_fields(
        valid(mode="after_buyer", auto_explain=True, templates=["{x}"], fallback_margin_hours=999), features=BASIC
    )
    assert set(fields) == {"mode", "auto_explain", "templates.0", "fallback_margin_hours"}


def test_update_merges_alerts_key_by_key():
    updated = apply_update(default_settings(), {"alerts": {"sns": True}}, features=PRO, rules=RULES)
    assert updated.alerts.sns and updated.alerts.outbox


def test_update_replaces_template_lists():
    updated = apply_update(default_settings(), {"templates": ["一句话"]}, features=PRO, rules=RULES)
    assert updated.templates == ("一句话",)


def test_half_valid_update_is_refused_as_a_whole():
    current = default_settings()
    with pytest.raises(SettingsInvalid) as info:
        apply_update(current, {"delay_hours": 6, "mode": "after_buyer"}, features=BASIC, rules=RULES)
    assert set(info.value.fields) == {"mode"}
    assert current == default_settings()


@pytest.mark.parametrize("patch", [["mode"], {"mode": None}, {"alerts": {"sns": None}}])
def test_malformed_updates_are_refused(patch):
    with pytest.raises(SettingsInvalid):
        apply_update(default_settings(), patch, features=PRO, rules=RULES)


def test_effective_mode_falls_back_to_immediate_when_the_plan_lacks_it():
    s = SellerSettings(mode="after_buyer")
    assert effective_mode(s, PRO) == "after_buyer"
    assert effective_mode(s, BASIC) == "immediate"
    assert effective_mode(SellerSettings(mode="delay"), BASIC) == "delay"
    assert effective_mode(SellerSettings(mode="delay"), frozenset()) == "immediate"


settings_data = st.fixed_dictionaries(
    {
        "mode": st.sampled_from(["immediate", "delay", "after_buyer"]),
        "delay_hours": st.integers(0, 360),
        "fallback_margin_hours": st.integers(1, 359),
        "templates": st.lists(
            st.sampled_from(["谢谢{buyer_masked}", "{shop_name}欢迎您", "好"]), min_size=1, max_size=5
        ),
        "template_strategy": st.sampled_from(["rotate", "random"]),
        "on_buyer_neutral_or_bad": st.sampled_from(["skip", "rate_good_anyway", "hold_for_review"]),
        "auto_blacklist_on_bad": st.booleans(),
        "auto_explain": st.booleans(),
        "explain_templates": st.lists(st.just("感谢反馈，{buyer_masked}"), min_size=1, max_size=2),
        "alerts": st.fixed_dictionaries({"outbox": st.booleans(), "sns": st.booleans()}),
        "dry_run": st.booleans(),
    }
)


@given(settings_data, st.sets(st.sampled_from(sorted(FEATURES))).map(frozenset))
def test_valid_settings_round_trip_and_plan_gaps_are_the_only_errors(data, features):
    with_all = validate_settings(data, features=FEATURES, rules=RULES)
    assert validate_settings(with_all.model_dump(), features=FEATURES, rules=RULES) == with_all
    assert apply_update(with_all, {}, features=FEATURES, rules=RULES) == with_all
    try:
        validate_settings(data, features=features, rules=RULES)
    except SettingsInvalid as exc:
        assert set(exc.fields) <= {"mode", "auto_explain", "auto_blacklist_on_bad"}
        if "mode" in exc.fields:
            assert effective_mode(with_all, features) == "immediate" != with_all.mode
