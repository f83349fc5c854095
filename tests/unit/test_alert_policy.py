"""Which alerts go to the group robots and when: quiet hours, digests that fit a robot's message, signing."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote_plus

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.config import SettingsInvalid, load_settings
from chalicelib.domain import alert_policy as policy
from chalicelib.marketplace.robot_signing import dingtalk_sign
from chalicelib.marketplace.robots import CredentialInvalid, parse_credential

BEIJING_NOON = datetime(2026, 12, 7, 4, 0, tzinfo=UTC)  # 12:00 in Beijing


@pytest.mark.parametrize(
    ("hour", "quiet", "inside"),
    [
        (23, (22, 8), True),
        (3, (22, 8), True),
        (8, (22, 8), False),
        (21, (22, 8), False),
        (13, (12, 14), True),
        (14, (12, 14), False),
        (13, (None, None), False),
        (13, (13, 13), False),
    ],
)
def test_quiet_hours_are_beijing_hours_and_may_span_midnight(hour, quiet, inside):
    now = BEIJING_NOON + timedelta(hours=hour - 12)
    assert policy.in_quiet_hours(now, *quiet) is inside


@given(st.integers(0, 24 * 60 - 1), st.integers(0, 23), st.integers(0, 23))
def test_quiet_hours_end_at_their_last_hour_and_never_in_the_past(minutes, start, end):
    now = BEIJING_NOON + timedelta(minutes=minutes)
    ends = policy.quiet_ends(now, start, end)
    assert ends >= now
    assert not policy.in_quiet_hours(ends, start, end)
    assert ends - now <= timedelta(hours=24)
    if ends != now:
        assert (ends + timedelta(hours=8)).hour == end and ends.minute == 0


@given(st.lists(st.text(min_size=1, max_size=400), min_size=1, max_size=40))
def test_a_digest_fits_a_robot_message_and_counts_every_alert(messages):
    text = policy.compose(messages, title=lambda n: f"{n} alerts", more=lambda n: f"{n} more")
    assert len(text.encode("utf-8")) <= policy.TEXT_MAX_BYTES
    if len(messages) > 1:
        assert text.startswith(f"{len(messages)} alerts")
    if len(messages) > policy.DIGEST_LINES and len(text.encode()) < policy.TEXT_MAX_BYTES - 10:
        assert f"{len(messages) - policy.DIGEST_LINES} more" in text


def test_every_event_a_seller_can_choose_has_alert_kinds():
    kinds = {
        "buyer_rating_bad",
        "suspected_extortion",
        "review_failed",
        "plan_expiring",
        "backfill_done",
    }
    assert {policy.event_of(k) for k in kinds} == set(policy.EVENTS)
    assert policy.event_of("weekly_summary") is None


def test_retries_back_off_to_an_hour():
    assert [policy.retry_delay(n).total_seconds() // 60 for n in (1, 2, 3, 9)] == [1, 2, 4, 60]


def test_the_dingtalk_signature_is_the_documented_formula():
    secret, stamp = "SECthis-is-secret", 1_700_000_000_000
    sign = dingtalk_sign(secret, stamp)
    digest = base64.b64decode(unquote_plus(sign))
    assert digest == hmac.new(secret.encode(), f"{stamp}\n{secret}".encode(), hashlib.sha256).digest()
    assert "+" not in sign and "/" not in sign and "=" not in sign  # URL-encoded, ready for the query string


@pytest.mark.parametrize(
    ("channel", "webhook", "secret", "field"),
    [
        (
            "dingtalk",
            "https://oapi.dingtalk.com.evil.example/robot/send?access_token=" + "a" * 32,
            "SEC" + "a" * 20,
            "webhook",
        ),
        ("dingtalk", "https://oapi.dingtalk.com/robot/send?access_token=short", "SEC" + "a" * 20, "webhook"),
        ("dingtalk", "a" * 32, None, "secret"),
        ("wecom", "http://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=" + "b" * 36, None, "webhook"),
        ("sms", "a" * 32, None, "channel"),
    ],
)
def test_a_pasted_robot_is_refused_unless_official(channel, webhook, secret, field):
    with pytest.raises(CredentialInvalid) as refused:
        parse_credential(channel, webhook, secret)
    assert refused.value.field == field


def test_a_bare_token_or_the_official_address_both_work():
    token = "c" * 40
    assert parse_credential("wecom", token).token == token
    official = parse_credential(
        "dingtalk", f"https://oapi.dingtalk.com/robot/send?access_token={token}", "SEC" + "x" * 20
    )
    assert official.token == token and token not in repr(official)


@pytest.mark.parametrize(
    ("env", "ok"),
    [
        ({}, True),
        ({"HAOPING_DINGTALK_ROBOT_URL": "http://oapi.dingtalk.com/robot/send"}, False),
        ({"HAOPING_WECOM_ROBOT_URL": "https://qyapi.weixin.qq.com.evil.example/cgi-bin/webhook/send"}, False),
        ({"HAOPING_WECOM_ROBOT_URL": "http://127.0.0.1:8080/cgi-bin/webhook/send"}, False),
        (
            {"HAOPING_WECOM_ROBOT_URL": "http://127.0.0.1:8080/cgi-bin/webhook/send", "HAOPING_ROBOTS_LOCAL_HTTP": "1"},
            True,
        ),
        ({"HAOPING_WECOM_ROBOT_URL": "http://10.0.0.1/cgi-bin/webhook/send", "HAOPING_ROBOTS_LOCAL_HTTP": "1"}, False),
    ],
)
def test_deployed_robot_urls_are_only_the_official_https_hosts(env, ok):
    if ok:
        assert load_settings(env).dingtalk_robot_url.startswith(("https://oapi.dingtalk.com", "http"))
    else:
        with pytest.raises(SettingsInvalid):
            load_settings(env)
