import json
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import chalicelib
from chalicelib.domain.guard import (
    KILL_RETRY,
    GuardDecision,
    GuardInput,
    breaker_tripped,
    consequence,
    decide,
    next_hour,
)
from chalicelib.domain.lint import LintProblem
from chalicelib.domain.rules import parse_rules

DEFAULT = json.loads((Path(chalicelib.__file__).parent / "rules_default.json").read_text("utf-8"))
RULES = parse_rules(DEFAULT)
CLEAR = GuardInput(
    kill_global=False,
    kill_seller=False,
    dry_run=False,
    lint_problems=(),
    posts_last_hour=0,
    hourly_cap=60,
    recent_attempts=0,
    recent_failures=0,
)
PROBLEM = LintProblem("banned_word", "content contains the banned word '返现'")


def test_all_clear_is_allowed():
    decision = decide(CLEAR, RULES)
    assert decision.verdict == "allow" and decision.allowed and not decision.pause_seller


@pytest.mark.parametrize(
    ("changes", "verdict"),
    [
        ({"kill_global": True}, "blocked"),
        ({"kill_seller": True}, "blocked"),
        ({"dry_run": True}, "dry_run"),
        ({"lint_problems": (PROBLEM,)}, "lint_failed"),
        ({"posts_last_hour": 60}, "capped"),
        ({"hourly_cap": 0}, "capped"),
        ({"recent_attempts": 10, "recent_failures": 5}, "breaker_open"),
    ],
)
def test_each_check_has_its_verdict(changes, verdict):
    decision = decide(replace(CLEAR, **changes), RULES)
    assert decision.verdict == verdict
    assert not decision.allowed
    assert decision.pause_seller == (verdict == "breaker_open")


def test_kill_switch_reasons_say_which_switch():
    assert "global" in decide(replace(CLEAR, kill_global=True), RULES).reason
    assert "seller" in decide(replace(CLEAR, kill_seller=True), RULES).reason


def test_lint_reason_lists_codes_not_content():
    other = LintProblem("phone_number", "content contains something like a phone number")
    reason = decide(replace(CLEAR, lint_problems=(PROBLEM, other, PROBLEM)), RULES).reason
    assert reason == "content failed lint: banned_word, phone_number"


def test_below_the_cap_is_allowed():
    assert decide(replace(CLEAR, posts_last_hour=59), RULES).allowed


def test_breaker_needs_the_minimum_sample():
    assert not breaker_tripped(9, 9, RULES)
    assert breaker_tripped(10, 5, RULES)
    assert not breaker_tripped(10, 4, RULES)
    assert not breaker_tripped(0, 0, RULES)


def test_breaker_threshold_comes_from_the_rules():
    strict = parse_rules(DEFAULT, {"version": "x", "breaker": {"failure_rate_pause": 0.2, "min_sample": 5}})
    assert breaker_tripped(5, 1, strict)
    assert not breaker_tripped(5, 1, RULES)


def test_decision_defaults_to_not_pausing():
    assert GuardDecision("capped", "x").pause_seller is False


# The checks in the order the guard applies them, each with the input fields it reads.
ORDER = [
    ("blocked", ("kill_global",)),
    ("blocked", ("kill_seller",)),
    ("dry_run", ("dry_run",)),
    ("lint_failed", ("lint_problems",)),
    ("capped", ("posts_last_hour", "hourly_cap")),
    ("breaker_open", ("recent_attempts", "recent_failures")),
]

guard_inputs = st.builds(
    GuardInput,
    kill_global=st.booleans(),
    kill_seller=st.booleans(),
    dry_run=st.booleans(),
    lint_problems=st.lists(st.just(PROBLEM), max_size=2).map(tuple),
    posts_last_hour=st.integers(0, 100),
    hourly_cap=st.integers(0, 100),
    recent_attempts=st.integers(0, 30),
    recent_failures=st.integers(0, 30),
).filter(lambda inp: inp.recent_failures <= inp.recent_attempts)


def _fails(check, inp):
    name = check[1][0]
    if name == "posts_last_hour":
        return inp.posts_last_hour >= inp.hourly_cap
    if name == "recent_attempts":
        return breaker_tripped(inp.recent_attempts, inp.recent_failures, RULES)
    return bool(getattr(inp, name))


@given(guard_inputs)
def test_the_first_failing_check_decides(inp):
    first = next((check for check in ORDER if _fails(check, inp)), None)
    assert decide(inp, RULES).verdict == (first[0] if first else "allow")


@given(guard_inputs, guard_inputs)
def test_later_checks_cannot_change_an_earlier_verdict(inp, other):
    position = next((i for i, check in enumerate(ORDER) if _fails(check, inp)), None)
    if position is None:
        return
    later = {name for _, names in ORDER[position + 1 :] for name in names}
    mixed = replace(inp, **{f.name: getattr(other, f.name) for f in fields(GuardInput) if f.name in later})
    assert decide(mixed, RULES) == decide(inp, RULES)


@given(guard_inputs)
def test_only_the_breaker_pauses_the_seller(inp):
    decision = decide(inp, RULES)
    assert decision.pause_seller == (decision.verdict == "breaker_open")


# -- what a refusal does (the one policy) ---------------------------------------------------------------------
REFUSALS = {
    "blocked": {"kill_seller": True},
    "dry_run": {"dry_run": True},
    "lint_failed": {"lint_problems": (PROBLEM,)},
    "capped": {"posts_last_hour": 60},
    "breaker_open": {"recent_attempts": 10, "recent_failures": 5},
}


@given(st.sampled_from(sorted(REFUSALS)), st.datetimes(min_value=datetime(2020, 1, 1), timezones=st.just(UTC)))
def test_only_the_breaker_pauses_and_capped_work_waits_for_the_next_market_hour(verdict, now):
    decision = decide(replace(CLEAR, **REFUSALS[verdict]), RULES)
    assert decision.verdict == verdict
    then = consequence(decision, now)
    assert then.pause_seller == (verdict == "breaker_open")
    assert not then.spend_attempt
    if verdict in ("capped", "breaker_open"):
        assert then.action == "retry" and then.due_at == next_hour(now)
        assert now < then.due_at <= now + timedelta(hours=1)
        assert (then.due_at.minute, then.due_at.second, then.due_at.microsecond) == (0, 0, 0)
    else:
        expected = {"blocked": "retry", "dry_run": "skip", "lint_failed": "fail"}[verdict]
        assert then.action == expected
        assert then.due_at == (now + KILL_RETRY if verdict == "blocked" else None)


def test_an_allowed_write_has_no_consequence():
    with pytest.raises(ValueError):
        consequence(decide(CLEAR, RULES), datetime(2026, 1, 1, tzinfo=UTC))
