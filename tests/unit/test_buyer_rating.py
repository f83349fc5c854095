import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.buyer_rating import BuyerRatingOutcome, UnknownRatingResult, decide_on_buyer_rating
from chalicelib.domain.settings import SellerSettings

EXPLAIN = {"auto_explain": True, "explain_templates": ("感谢您的反馈",)}


def test_good_rating_releases_a_waiting_task():
    outcome = decide_on_buyer_rating("good", SellerSettings(mode="after_buyer"))
    assert outcome == BuyerRatingOutcome("release", blacklist=False, explain=False, alert=False)


@pytest.mark.parametrize("mode", ["immediate", "delay"])
def test_good_rating_changes_nothing_in_other_modes(mode):
    assert decide_on_buyer_rating("good", SellerSettings(mode=mode)).task_action == "none"


def test_good_rating_never_blacklists_explains_or_alerts():
    s = SellerSettings(mode="after_buyer", auto_blacklist_on_bad=True, **EXPLAIN)
    outcome = decide_on_buyer_rating("good", s)
    assert not (outcome.blacklist or outcome.explain or outcome.alert)


@pytest.mark.parametrize(
    ("policy", "mode", "action"),
    [
        ("skip", "after_buyer", "skip"),
        ("skip", "delay", "skip"),
        ("hold_for_review", "after_buyer", "hold"),
        ("hold_for_review", "immediate", "hold"),
        ("rate_good_anyway", "after_buyer", "release"),
        ("rate_good_anyway", "delay", "none"),
    ],
)
@pytest.mark.parametrize("result", ["neutral", "bad"])
def test_neutral_or_bad_follows_the_sellers_policy_and_alerts(policy, mode, action, result):
    outcome = decide_on_buyer_rating(result, SellerSettings(mode=mode, on_buyer_neutral_or_bad=policy))
    assert outcome.task_action == action
    assert outcome.alert


def test_neutral_or_bad_rating_blacklists_when_asked():
    s = SellerSettings(auto_blacklist_on_bad=True)
    assert decide_on_buyer_rating("bad", s).blacklist
    assert decide_on_buyer_rating("neutral", s).blacklist
    assert not decide_on_buyer_rating("bad", SellerSettings()).blacklist


@pytest.mark.parametrize("result", ["neutral", "bad"])
def test_explanation_when_asked(result):
    assert decide_on_buyer_rating(result, SellerSettings(**EXPLAIN)).explain
    assert not decide_on_buyer_rating(result, SellerSettings()).explain


def test_follow_ups_the_plan_lacks_are_not_taken():
    s = SellerSettings(auto_blacklist_on_bad=True, **EXPLAIN)
    basic = decide_on_buyer_rating("bad", s, features=frozenset({"immediate", "delay"}))
    assert not (basic.blacklist or basic.explain)
    assert basic.alert
    pro = decide_on_buyer_rating("bad", s, features=frozenset({"auto_blacklist", "auto_explain"}))
    assert pro.blacklist and pro.explain


@pytest.mark.parametrize("result", ["", "GOOD", "excellent"])
def test_unknown_results_are_an_error(result):
    with pytest.raises(UnknownRatingResult):
        decide_on_buyer_rating(result, SellerSettings())


@given(
    st.sampled_from(["good", "neutral", "bad"]),
    st.sampled_from(["immediate", "delay", "after_buyer"]),
    st.sampled_from(["skip", "rate_good_anyway", "hold_for_review"]),
    st.booleans(),
    st.booleans(),
)
def test_release_only_ever_applies_to_waiting_tasks(result, mode, policy, blacklist, explain):
    s = SellerSettings(
        mode=mode,
        on_buyer_neutral_or_bad=policy,
        auto_blacklist_on_bad=blacklist,
        auto_explain=explain,
        explain_templates=("感谢",),
    )
    outcome = decide_on_buyer_rating(result, s)
    if outcome.task_action == "release":
        assert mode == "after_buyer"
    assert outcome.alert == (result != "good")
    assert outcome.blacklist == (result in ("neutral", "bad") and blacklist)
