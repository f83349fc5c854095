"""Once-only side effects survive a timeout between the state write and the effect: the invocation dies right after
the state is written, the queue delivers the job again, and the effect happens exactly once (one alert, one hold,
one audit entry)."""

from __future__ import annotations

import pytest

from chalicelib.services.alerts import alerts
from chalicelib.services.ratings import handle_buyer_rating
from chalicelib.store import audit, outbox, sellers, tasks
from tests.helpers import json_body
from tests.integration.test_tokens_job import (  # noqa: F401
    SESSION_HOURS,
    market,
    onboard,
    run_tokens_job,
    seed_trade,
)


class TimedOut(Exception):
    """The invocation's deadline struck here: nothing after this point ran."""


@pytest.fixture
def first_alert_times_out(monkeypatch):
    """The first alert of the test never goes out: its invocation times out right before it."""
    real = alerts.alert
    state = {"struck": 0}

    def alert(*args, **kwargs):
        if not state["struck"]:
            state["struck"] += 1
            raise TimedOut("the Lambda deadline")
        return real(*args, **kwargs)

    monkeypatch.setattr(alerts, "alert", alert)
    monkeypatch.setattr(handle_buyer_rating, "alert", alert)  # imported by name there
    return state


def test_tokens_a_timeout_after_the_reauth_status_still_alerts_holds_and_audits_once(
    client,
    aws,
    clock,
    market,  # noqa: F811
    first_alert_times_out,
):
    seller_id = onboard(client, clock, "revoked_shop", mode="delay", delay_hours=8)
    seed_trade(client, clock, market, "revoked_shop", seller_id, "3900000000000101")
    market.revoke("revoked_shop")
    clock.advance((SESSION_HOURS - 2) * 3600)

    run_tokens_job(client, clock)  # the status is written, then the invocation times out
    assert first_alert_times_out["struck"] == 1 and sellers.get(seller_id).status == "reauth"
    assert outbox.recent(seller_id) == []

    clock.advance(60)
    run_tokens_job(client, clock)  # the queue delivers the seller's message again
    clock.advance(3600)
    run_tokens_job(client, clock)  # and a later run finds nothing more to do

    assert [n.kind for n in outbox.recent(seller_id)] == ["reauth_needed"]
    task = tasks.get(seller_id, "3900000000000101")
    assert task.state == "held" and task.holds == {"reauth"}
    entries = [r for r in audit.trail(seller_id, limit=100) if r.result == "reauth_needed"]
    assert len(entries) == 1 and entries[0].detail["held_tasks"] == 1


def test_reconcile_a_timeout_after_the_rating_is_recorded_still_alerts_and_triages_once(
    client,
    aws,
    clock,
    market,  # noqa: F811
    first_alert_times_out,
):
    from chalicelib.services.jobs.reconcile_seller import reconcile_seller

    seller_id = onboard(client, clock, "rated_shop", mode="delay", delay_hours=8)
    tid = "3900000000000201"
    seed_trade(client, clock, market, "rated_shop", seller_id, tid)
    clock.advance(600)
    market.add_buyer_rate(int(tid), "bad", "物流太慢了，包装也破了")  # its push is lost
    clock.advance(600)

    with pytest.raises(TimedOut):  # the rating is recorded, then the invocation times out
        reconcile_seller(seller_id, now=clock.now())
    assert tasks.get(seller_id, tid).buyer_rating == "bad" and outbox.recent(seller_id) == []

    clock.advance(60)
    reconcile_seller(seller_id, now=clock.now())  # the queue delivers the job again
    clock.advance(86_400)
    reconcile_seller(seller_id, now=clock.now())  # the next day's run repeats nothing

    assert [n.kind for n in outbox.recent(seller_id)] == ["buyer_rating_bad"]
    task = tasks.get(seller_id, tid)
    assert task.triage is not None and task.triage["category"] and task.rating_applied_at is not None
    assert task.rating_text == "物流太慢了，包装也破了"


def test_billing_a_timeout_after_the_purged_status_keeps_its_one_audit_entry(
    client,
    aws,
    clock,
    market,  # noqa: F811
    monkeypatch,
):
    from chalicelib.services.billing import billing_daily
    from chalicelib.store import seller_writes
    from tests.integration.test_message_permits import _purge

    seller_id = onboard(client, clock, "leaving_shop")
    real_erase = seller_writes.erase

    def erase_then_time_out(*args, **kwargs):
        real_erase(*args, **kwargs)
        raise TimedOut("the Lambda deadline")

    monkeypatch.setattr(billing_daily.seller_writes, "erase", erase_then_time_out)
    with pytest.raises(TimedOut):
        _purge(seller_id, "leaving_shop", clock.now())
    # No later pass attends a purged seller: the entry must be there already.
    assert [r.action for r in audit.trail(seller_id, limit=100)].count("seller.purge") == 1
    monkeypatch.setattr(billing_daily.seller_writes, "erase", real_erase)
    _purge(seller_id, "leaving_shop", clock.now())  # a pass that runs it again anyway repeats nothing

    assert sellers.get(seller_id).status == "purged"
    assert [r.result for r in audit.trail(seller_id, limit=100) if r.action == "seller.purge"] == ["purged"]


PERMIT = "taobao.tmc.user.permit"


def _permit_entries(seller_id: str) -> list[str]:
    return [r.result for r in audit.trail(seller_id, limit=100) if r.action == PERMIT]


@pytest.fixture
def first_permit_mark_times_out(monkeypatch):
    """The first ``messages_permitted`` write of the test is made, then its invocation times out."""
    from chalicelib.services.onboarding import message_permits

    real = message_permits.seller_marks.set_messages_permitted
    state = {"struck": 0}

    def set_then_time_out(*args, **kwargs):
        real(*args, **kwargs)
        if not state["struck"]:
            state["struck"] += 1
            raise TimedOut("the Lambda deadline")

    monkeypatch.setattr(message_permits.seller_marks, "set_messages_permitted", set_then_time_out)
    return state


def test_permits_a_timeout_after_the_permit_is_recorded_leaves_no_call_without_its_audit_entry(
    client,
    aws,
    clock,
    market,  # noqa: F811
    first_permit_mark_times_out,
):
    from chalicelib.domain.queue_messages import PermitJob
    from chalicelib.services.onboarding.message_permits import ensure_permitted, run_permit_job
    from tests.helpers import oauth_login

    seller_id = onboard(client, clock, "permit_timeout_shop")
    # The queued permit job (the OAuth callback only queues it) dies right after the seller is marked permitted.
    with pytest.raises(TimedOut):
        run_permit_job(PermitJob(seller_id=seller_id), now=clock.now())
    assert sellers.get(seller_id).messages_permitted is True
    assert _permit_entries(seller_id) == ["permitted"]  # the call was recorded before its outcome

    clock.advance(60)
    assert run_permit_job(PermitJob(seller_id=seller_id), now=clock.now()) == "permitted"  # delivered again
    assert ensure_permitted(seller_id, now=clock.now())  # the backfill's end: nothing to do
    assert market.permitted("permit_timeout_shop")
    assert _permit_entries(seller_id) == ["permitted"] * market.calls[PERMIT] == ["permitted", "permitted"]

    # A permit retried by the backfill's end (``ensure_permitted``) that dies after its mark is never repeated:
    # its entry is already written.
    first_permit_mark_times_out["struck"] = 0
    other = json_body(oauth_login(client, "ensure_timeout_shop"))["seller_id"]
    with pytest.raises(TimedOut):
        ensure_permitted(other, now=clock.now())
    assert ensure_permitted(other, now=clock.now())  # the redelivered job finds the seller permitted
    assert _permit_entries(other) == ["permitted"]


def test_permits_a_timeout_after_the_reauth_status_still_alerts_once(
    client,
    aws,
    clock,
    market,  # noqa: F811
    first_alert_times_out,
):
    from chalicelib.domain.queue_messages import PermitJob
    from chalicelib.services.onboarding.message_permits import run_permit_job

    seller_id = onboard(client, clock, "ended_permit_shop")
    market.end_sessions("ended_permit_shop")  # the seller cancelled the authorization on the platform

    with pytest.raises(TimedOut):  # the permit is refused, the seller is marked reauth, then the deadline strikes
        run_permit_job(PermitJob(seller_id=seller_id), now=clock.now())
    assert sellers.get(seller_id).status == "reauth" and outbox.recent(seller_id) == []
    assert _permit_entries(seller_id) == ["failed"]

    clock.advance(60)
    assert run_permit_job(PermitJob(seller_id=seller_id), now=clock.now()) == "failed"  # delivered again
    clock.advance(3600)
    assert run_permit_job(PermitJob(seller_id=seller_id), now=clock.now()) == "failed"  # and again, later

    assert [n.kind for n in outbox.recent(seller_id)] == ["reauth_needed"]
    assert market.calls[PERMIT] == 1 and _permit_entries(seller_id) == ["failed"]
    assert not sellers.get(seller_id).messages_permitted
