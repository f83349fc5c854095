"""Once-only side effects survive a timeout between the state write and the effect: the invocation dies right after
the state is written, the queue delivers the job again, and the effect happens exactly once (one alert, one hold,
one audit entry)."""

from __future__ import annotations

import pytest

from chalicelib.services import alerts
from chalicelib.store import audit, outbox, sellers, tasks
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
