"""Rules are validated with bounds when they are written (``python -m chalicelib.ops rules show | validate FILE | set
FILE``, with a diff and an audit entry), and no rules value — even one written by hand into the Control table — makes
a route answer 5xx or a push answer ``error``: a container keeps the last good rules, logs and counts the refusal."""

from __future__ import annotations

import itertools
import json
import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.domain.rules import Rules
from chalicelib.ops import main
from chalicelib.services import rules as rules_module
from chalicelib.services.operations.operator_actions import GLOBAL
from chalicelib.services.rules import rules_in_force
from chalicelib.store import audit, control
from tests.helpers import json_body, make_seller, push, trade_message
from tests.integration.test_seller_api import session

_tids = itertools.count(3_960_000_000_000_001)
CATASTROPHIC = ["(a+)+$", "(a|aa)*b", "(.*)*x", "(\\w+\\s?)+$", "[", "", ".*", "x" * 600]
EXTREME = {
    "rating_window_days": [0, 1, 180, 181, 10**9, -5],
    "explain_window_days": [0, 1, 180, 10**9],
    "content_max_length": [0, 1, 500, 501, 10**9],
    "explain_max_length": [0, 1, 10**9],
    "fallback_margin_hours": [0, 1, 10**9],
    "claim_timeout_seconds": [0, 30, 86_400, 10**15],
    "max_reviews_per_seller_per_hour": [0, 1, 10**12],
    "review_capacity_per_second": [0, 0.01, 1e300, float("nan"), float("inf")],
    "sweep_senders": [0, 1, 32, 10**6],
    "retry": [
        {"max_attempts": 0},
        {"max_attempts": 10**6},
        {"backoff_max_seconds": 1e300},
        {"backoff_base_seconds": 0},
    ],
    "breaker": [{"min_sample": 0}, {"failure_rate_pause": 2}, {"min_sample": 10**12}],
    "billing": [{"grace_days": 10**9}, {"reminder_days": [0]}, {"reminder_days": [10**9]}],
    "allowed_results": [[], ["bad"], ["great"]],
    "plans": [{"FW_GOODS-1000000-2": {"hourly_cap": 0}}, {"FW_GOODS-1000000-2": None}, {"x": {"name": ""}}],
}
ANYTHING = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**18), max_value=10**18),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.lists(st.text(max_size=8), max_size=4),
    st.dictionaries(st.text(max_size=8), st.integers(), max_size=3),
)


@st.composite
def overrides(draw):
    """An override document as an operator could write it by hand: anything, within bounds or far outside."""
    if draw(st.integers(min_value=0, max_value=9)) == 0:
        return draw(st.one_of(st.lists(st.integers(), max_size=2), st.text(max_size=5), st.integers()))
    document: dict = {"version": draw(st.sampled_from(["2026.9-test", "", "v" * 80]))}
    for key in draw(st.lists(st.sampled_from([*EXTREME, "banned_patterns", "banned_words"]), min_size=1, max_size=3)):
        if key == "banned_patterns":
            document[key] = draw(st.lists(st.sampled_from(CATASTROPHIC), min_size=1, max_size=3))
        elif key == "banned_words":
            document[key] = draw(st.lists(st.sampled_from(["好", " ", "词" * 200, "返现"]), min_size=1, max_size=3))
        else:
            document[key] = draw(st.one_of(st.sampled_from(EXTREME[key]), ANYTHING))
    return document


ROUTES = [
    ("GET", "/api/settings", None),
    ("POST", "/api/settings/preview", {"template": "感谢{买家}的支持，欢迎再来！"}),
    ("GET", "/api/tasks", None),
    ("GET", "/api/stats", None),
    ("GET", "/api/subscription", None),
    ("GET", "/api/journey", None),
    ("GET", "/api/ratings", None),
    ("GET", "/api/export/reviews.csv", None),
    ("GET", "/api/export/ratings.csv", None),
]


@pytest.fixture
def seller(aws, clock) -> str:
    return make_seller(clock.now())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=overrides())
def test_no_rules_value_makes_a_route_fail_or_a_push_answer_error(client, aws, clock, seller, document):
    control.write_rules_override(document, now=clock.now())
    headers = session(seller, clock.now())

    for method, path, body in ROUTES:
        answer = client.http.request(
            method, path, headers=headers, body=json.dumps(body).encode() if body is not None else b""
        )
        assert answer.status_code < 500, (path, document, answer.body[:300])
    tid = str(next(_tids))
    pushed = json_body(push(client, [trade_message(seller, tid, clock.now())], clock.now()))
    assert pushed["results"][0]["status"] != "error", (document, pushed)
    assert isinstance(rules_in_force(), Rules)


def test_an_unusable_override_keeps_the_last_good_rules_logs_and_counts(aws, clock, seller, caplog, monkeypatch):
    counted: list[str] = []
    monkeypatch.setattr(rules_module, "count", lambda name, value=1: counted.append(name))
    control.write_rules_override({"version": "2026.9-short", "rating_window_days": 10}, now=clock.now())
    assert rules_in_force().version == "2026.9-short"

    control.write_rules_override({"version": "2026.9-broken", "rating_window_days": 10**9}, now=clock.now())
    with caplog.at_level(logging.ERROR):
        kept = rules_in_force()

    assert (kept.version, kept.rating_window_days) == ("2026.9-short", 10)
    assert "the last good rules stay in force" in caplog.text
    assert counted == ["RulesOverrideUnusable"]
    assert rules_in_force().version == "2026.9-short" and counted == ["RulesOverrideUnusable"]  # once per override


def test_a_container_with_no_good_rules_yet_uses_the_packaged_default(aws, clock, seller):
    from chalicelib.container import container

    control.write_rules_override({"version": "2026.9-broken", "content_max_length": 0}, now=clock.now())
    container().kept("rules_last_good", dict).clear()
    container().forget_caches()

    assert rules_in_force().version == "2025.1" and rules_in_force().content_max_length == 500


def _ops(*argv: str) -> int:
    return main(["--user", "alice", "--json", *argv])


def test_rules_show_validate_and_set_with_a_diff_and_an_audit_entry(aws, clock, tmp_path, capsys):
    assert _ops("rules", "show") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["version"] == "2025.1" and shown["override"] is None and shown["effective"]["rating_window_days"] == 15

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"version": "2026.10", "explain_window_days": 10**9}), encoding="utf-8")
    assert _ops("rules", "validate", str(bad)) == 1
    assert "explain_window_days" in capsys.readouterr().err
    assert _ops("rules", "set", str(bad)) == 1
    capsys.readouterr()
    assert control.read_rules_override() is None  # nothing was written

    good = tmp_path / "good.json"
    good.write_text(json.dumps({"version": "2026.10", "rating_window_days": 12}), encoding="utf-8")
    assert _ops("rules", "validate", str(good)) == 0
    assert json.loads(capsys.readouterr().out) == {"valid": True, "version": "2026.10"}
    assert _ops("rules", "set", str(good)) == 0
    diff = json.loads(capsys.readouterr().out)
    assert diff == [
        {"key": "rating_window_days", "from": 15, "to": 12},
        {"key": "version", "from": "2025.1", "to": "2026.10"},
    ]
    assert rules_in_force().rating_window_days == 12

    entry = next(r for r in audit.trail(GLOBAL, limit=50) if r.action == "ops.rules.set")
    assert (entry.actor, entry.target) == ("operator:alice", "2026.10")
    assert entry.detail == {"from": "2025.1", "to": "2026.10", "changed": ["rating_window_days", "version"]}

    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json", encoding="utf-8")
    assert _ops("rules", "set", str(garbage)) == 1
