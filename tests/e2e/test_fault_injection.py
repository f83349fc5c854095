"""The fault-injection suite: a small market day through the whole local stack (moto server, the sandbox
marketplace, the app's HTTP routes, the sweep, the workers and the daily reconcile) under ``ChaosPlan``.

Every message is delivered three times, late and shuffled, and 10 % never; the marketplace fails 5 % of
its calls and is down for ten minutes; it bans the app once; one shop's session ends until it authorizes
again; the worker dies once after an accepted post; DynamoDB throttles in two bursts. The invariants:
no review posted twice, no eligible review lost, nothing posted for refunded, blacklisted, unpaid or
expired trades, no task left claimed.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.container import container
from chalicelib.security.buyer_id import buyer_hash, mask_nick
from chalicelib.store import audit, blacklist, control, sellers, tasks
from sandbox.chaos import ChaosPlan
from sandbox.replay import Replay
from sandbox.world import BASIC, TEMPLATES, SellerSpec, TradeSpec, WorldEvent, generate
from tests.e2e.conftest import DAY

pytestmark = pytest.mark.e2e

BASE = {"templates": TEMPLATES, "template_strategy": "rotate"}
SHOPS = [
    SellerSpec("chaos_immediate", {**BASE, "mode": "immediate"}, BASIC, 10),
    SellerSpec("chaos_delay", {**BASE, "mode": "delay", "delay_hours": 6}, BASIC, 10),
    SellerSpec("chaos_dry_run", {**BASE, "mode": "immediate", "dry_run": True}, BASIC, 4, dry_run=True),
]
UNPAID = SellerSpec("chaos_unpaid", {**BASE, "mode": "immediate"}, BASIC, 4, purchases=())  # never pays


def small_world():
    """The shops' day, an unpaid shop's trades, and a trade whose message comes after its window closed."""
    trades, events = generate(DAY, SHOPS, seed=5)
    unpaid, unpaid_events = generate(DAY, [UNPAID], seed=6, rating_rate=0.0, refund_rate=0.0)
    for t in unpaid:  # another numbering, so the two draws cannot collide
        t.tid, t.oid = str(int(t.tid) + 10**12), str(int(t.oid) + 10**12)
        t.expect = "held:plan_expired"
    stale = TradeSpec(
        seller_nick="chaos_immediate",
        tid="3800000000000001",
        oid="3800000000000002",
        buyer_nick="tb_buyer_old",
        buyer_open_uid="AAHold",
        item_title="保温杯",
        payment="19.00",
        ended_at=DAY - timedelta(days=16),
        expect="expired:window_closed",
    )
    events = sorted([*events, *unpaid_events, WorldEvent(stale.ended_at, "trade_success", stale)], key=lambda e: e.at)
    return [*trades, *unpaid, stale], events


def blacklist_two_buyers(replay, trades, now) -> list[TradeSpec]:
    """The immediate shop blacklists the buyers of two trades with nothing else going on."""
    plain = [t for t in trades if t.seller_nick == "chaos_immediate" and t.expect == "posted" and not t.refund]
    chosen = [t for t in plain if not t.buyer_rating][:2]
    for t in chosen:
        key = buyer_hash(container().buyer_hash_secret(), t.buyer_nick, kind="nick")
        blacklist.add(replay.seller_ids[t.seller_nick], key, masked=mask_nick(t.buyer_nick), reason="manual", now=now)
        t.expect = "skipped:blacklisted"
    return chosen


def test_the_invariants_hold_under_chaos(local_stack):
    clock = local_stack.clock
    clock.set(DAY - timedelta(hours=1))  # the stack starts a day early; nothing happens before the day
    trades, events = small_world()
    chaos = ChaosPlan(seed=3)
    replay = Replay(local_stack, [*SHOPS, UNPAID], trades, events, DAY, chaos=chaos, horizon=timedelta(days=2))
    try:
        replay.onboard()
        assert not sellers.get(replay.seller_ids[UNPAID.nick]).paid_until
        blacklisted = blacklist_two_buyers(replay, trades, clock.now())
        replay.run()
    finally:
        chaos.stop(replay)
    report = replay.report(wall_seconds=0)

    assert report.ok, report.text
    market = local_stack.marketplace
    posted = [t for t in trades if t.expect == "posted"]
    assert all(market.post_counts(int(t.tid)) <= 1 for t in trades), report.text
    assert sum(market.post_counts(int(t.tid)) for t in posted) >= len(posted) - 1 > 10
    never = [t for t in trades if t.expect.startswith(("skipped:blacklisted", "skipped:dry_run", "held:", "expired:"))]
    assert len(blacklisted) == 2 and len(never) >= 2 + 4 + 4 + 1
    assert not any(market.post_counts(int(t.tid)) for t in never)
    # Every fault really happened.
    assert chaos.channel.stats.dropped > 0 and chaos.channel.stats.duplicated > 0
    assert sum(chaos.dynamo.injected.values()) > 0
    assert control.read_switches(fresh=True).paused_until > 0  # the quota ban paused everyone
    (seller_id, tid), *_ = chaos.crash.crashed
    assert (tasks.get(seller_id, tid).state, market.post_counts(int(tid))) == ("posted", 1)
    trail = {(r.action, r.result) for r in audit.trail(replay.seller_ids["chaos_immediate"], limit=500)}
    assert {("taobao.traderate.add", "session_invalid"), ("seller.reauthorize", "ok")} <= trail
