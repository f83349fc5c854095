import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

import chalicelib
from chalicelib.domain.plans import FEATURES, UnknownPlan, features_for, hourly_cap_for, plan_for
from chalicelib.domain.rules import Rules, RulesInvalid, deep_merge, parse_rules, retired_keys, rules_diff

DEFAULT = json.loads((Path(chalicelib.__file__).parent / "rules_default.json").read_text("utf-8"))
BASIC, PRO = "FW_GOODS-1000000-1", "FW_GOODS-1000000-2"


def test_shipped_default_parses_with_the_market_rules_of_today():
    rules = parse_rules(DEFAULT)
    assert rules.version
    assert rules.rating_window_days == 15
    assert rules.content_max_length == 500
    assert rules.explain_window_days == 30
    assert rules.allowed_results == ("good",)
    assert rules.billing.grace_days == 30
    assert rules.billing.reminder_days == (7, 3, 1)
    assert set(rules.plans) == {BASIC, PRO}
    assert len(rules.compiled_patterns) == len(rules.banned_patterns) > 0


def test_shipped_default_is_whole_without_model_defaults():
    # Every rule the code relies on is written down in the shipped document, not only in code.
    assert set(Rules.model_fields) <= set(DEFAULT)


def test_override_merges_nested_objects_key_by_key():
    rules = parse_rules(DEFAULT, {"version": "2025.2", "retry": {"max_attempts": 3}})
    assert rules.version == "2025.2"
    assert rules.retry.max_attempts == 3
    assert rules.retry.backoff_base_seconds == DEFAULT["retry"]["backoff_base_seconds"]


def test_override_replaces_lists_rather_than_appending():
    rules = parse_rules(DEFAULT, {"version": "2025.2", "banned_words": ["新词"]})
    assert rules.banned_words == ("新词",)


def test_override_changes_one_plan_and_keeps_the_other():
    rules = parse_rules(DEFAULT, {"version": "2025.2", "plans": {BASIC: {"hourly_cap": 10}}})
    assert rules.plans[BASIC].hourly_cap == 10
    assert rules.plans[BASIC].features == frozenset(DEFAULT["plans"][BASIC]["features"])
    assert rules.plans[PRO].hourly_cap == DEFAULT["plans"][PRO]["hourly_cap"]


def test_null_in_override_withdraws_a_plan():
    rules = parse_rules(DEFAULT, {"version": "2025.2", "plans": {BASIC: None}})
    assert set(rules.plans) == {PRO}


def test_a_rule_change_such_as_a_shorter_window_takes_effect():
    rules = parse_rules(DEFAULT, {"version": "2025.3", "rating_window_days": 7})
    assert rules.rating_window_days == 7


def test_empty_override_keeps_default():
    assert parse_rules(DEFAULT, {}) == parse_rules(DEFAULT, None) == parse_rules(DEFAULT)


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ({"rating_window_days": 10}, "version"),
        ({"version": "x", "banned_patterns": ["(unclosed"]}, "banned_patterns"),
        ({"version": "x", "banned_patterns": ["a*"]}, "empty text"),
        ({"version": "x", "banned_words": ["ok", "  "]}, "banned_words"),
        ({"version": "x", "allowed_results": ["excellent"]}, "allowed_results"),
        ({"version": "x", "rating_windw_days": 10}, "rating_windw_days"),
        ({"version": "x", "retry": {"backoff_base_seconds": 100, "backoff_max_seconds": 10}}, "retry"),
        ({"version": "x", "fallback_margin_hours": 360}, "fallback_margin_hours"),
        ({"version": "x", "billing": {"reminder_days": [3, 0]}}, "reminder_days"),
        ({"version": "x", "plans": {BASIC: {"features": ["immediate", "teleport"]}}}, "teleport"),
        ({"version": "x", "plans": {BASIC: {"hourly_cap": 0}}}, "hourly_cap"),
        ({"version": "x", "breaker": {"failure_rate_pause": 1.5}}, "failure_rate_pause"),
        ({"version": "x", "content_max_length": 0}, "content_max_length"),
    ],
)
def test_invalid_documents_are_rejected_with_a_reason(override, fragment):
    with pytest.raises(RulesInvalid) as info:
        parse_rules(DEFAULT, override)
    assert fragment in info.value.reason


@pytest.mark.parametrize("override", [["version"], "2025.2", 3])
def test_override_must_be_an_object(override):
    with pytest.raises(RulesInvalid):
        parse_rules(DEFAULT, override)


def test_default_must_be_an_object():
    with pytest.raises(RulesInvalid):
        parse_rules([DEFAULT])


def test_reminder_days_are_normalised_to_descending_unique():
    rules = parse_rules(DEFAULT, {"version": "x", "billing": {"reminder_days": [1, 7, 3, 7]}})
    assert rules.billing.reminder_days == (7, 3, 1)


def test_rules_are_immutable():
    rules = parse_rules(DEFAULT)
    with pytest.raises(ValidationError):
        rules.rating_window_days = 30


def test_parse_does_not_mutate_its_inputs():
    default = json.loads(json.dumps(DEFAULT))
    override = {"version": "x", "plans": {BASIC: None, PRO: {"hourly_cap": 5}}}
    parse_rules(default, override)
    assert default == DEFAULT
    assert override == {"version": "x", "plans": {BASIC: None, PRO: {"hourly_cap": 5}}}


def test_an_override_with_a_retired_key_stays_valid_and_names_it():
    override = {"version": "old", "breaker": {"window_minutes": 30, "min_sample": 4}, "claim_timeout_seconds": 120}
    before = json.loads(json.dumps(override))
    rules = parse_rules(DEFAULT, override)
    assert rules.breaker.min_sample == 4 and rules.claim_timeout_seconds == 120  # the rest of the override holds
    assert retired_keys(override) == ["breaker.window_minutes"]
    assert override == before  # nothing of the caller's document is dropped in place
    assert retired_keys({"version": "new", "breaker": {"min_sample": 4}}) == []
    with pytest.raises(RulesInvalid, match=r"breaker\.window_minute"):  # a key never known is still refused
        parse_rules(DEFAULT, {"version": "x", "breaker": {"window_minute": 30}})


_json_leaf = st.one_of(st.integers(), st.text(max_size=5), st.booleans())
_json_doc = st.recursive(
    st.dictionaries(st.text(min_size=1, max_size=3), _json_leaf, max_size=4),
    lambda inner: st.dictionaries(st.text(min_size=1, max_size=3), st.one_of(_json_leaf, inner), max_size=4),
    max_leaves=12,
)


@given(_json_doc, _json_doc)
def test_deep_merge_override_wins_and_base_keys_survive(base, override):
    merged = deep_merge(base, override)
    for key, value in override.items():
        if not isinstance(value, dict) or not isinstance(base.get(key), dict):
            assert merged[key] == value
    for key in base.keys() - override.keys():
        assert merged[key] == base[key]


@given(_json_doc)
def test_deep_merge_with_nothing_is_identity(base):
    assert deep_merge(base, {}) == base
    assert deep_merge({}, base) == base


# Plans


def test_features_of_the_shipped_plans():
    rules = parse_rules(DEFAULT)
    assert features_for(BASIC, rules) == {"immediate", "delay"}
    assert features_for(PRO, rules) == FEATURES
    assert plan_for(PRO, rules).name


def test_no_plan_means_no_features_and_no_posts():
    rules = parse_rules(DEFAULT)
    assert features_for(None, rules) == frozenset()
    assert hourly_cap_for(None, rules) == 0


def test_unknown_item_code_is_an_error():
    rules = parse_rules(DEFAULT)
    with pytest.raises(UnknownPlan) as info:
        features_for("FW_GOODS-9999999-1", rules)
    assert info.value.item_code == "FW_GOODS-9999999-1"
    with pytest.raises(UnknownPlan):
        hourly_cap_for("FW_GOODS-9999999-1", rules)


def test_hourly_cap_is_the_plans_cap_under_the_market_ceiling():
    rules = parse_rules(DEFAULT)
    assert hourly_cap_for(BASIC, rules) == DEFAULT["plans"][BASIC]["hourly_cap"]
    lowered = parse_rules(DEFAULT, {"version": "x", "max_reviews_per_seller_per_hour": 100})
    assert hourly_cap_for(PRO, lowered) == 100
    assert hourly_cap_for(BASIC, lowered) == DEFAULT["plans"][BASIC]["hourly_cap"]


# -- bounds: no value an operator can write makes a route fail ----------------------------------------------------
@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ({"rating_window_days": 10**9}, "rating_window_days"),
        ({"rating_window_days": 181}, "rating_window_days"),
        ({"explain_window_days": 10**9}, "explain_window_days"),
        ({"content_max_length": 0}, "content_max_length"),
        ({"content_max_length": 501}, "content_max_length"),
        ({"explain_max_length": 10**6}, "explain_max_length"),
        ({"claim_timeout_seconds": 10**15}, "claim_timeout_seconds"),
        ({"retry": {"backoff_max_seconds": 1e300}}, "retry.backoff_max_seconds"),
        ({"retry": {"max_attempts": 10**6}}, "retry.max_attempts"),
        ({"review_capacity_per_second": float("nan")}, "review_capacity_per_second"),
        ({"review_capacity_per_second": float("inf")}, "review_capacity_per_second"),
        ({"billing": {"grace_days": 10**9}}, "billing.grace_days"),
        ({"billing": {"reminder_days": [10**9]}}, "billing.reminder_days"),
        ({"banned_patterns": ["(a+)+$"]}, "banned_patterns"),
        ({"banned_patterns": ["x" * 501]}, "banned_patterns"),
        ({"banned_words": ["词" * 101]}, "banned_words"),
        ({"plans": {"FW_GOODS-1000000-1": {"hourly_cap": 10**12}}}, "hourly_cap"),
        ({"version": "v" * 65}, "version"),
    ],
)
def test_values_outside_their_bounds_are_refused(override, fragment):
    with pytest.raises(RulesInvalid) as err:
        parse_rules(DEFAULT, {"version": "2025.1-bad", **override} if "version" not in override else override)
    assert fragment in err.value.reason


def test_the_diff_names_each_changed_leaf_with_both_values():
    old = parse_rules(DEFAULT)
    new = parse_rules(DEFAULT, {"version": "2025.2", "rating_window_days": 10, "retry": {"max_attempts": 3}})
    assert rules_diff(old, new) == [
        ("rating_window_days", 15, 10),
        ("retry.max_attempts", 6, 3),
        ("version", "2025.1", "2025.2"),
    ]
    assert rules_diff(old, old) == []
