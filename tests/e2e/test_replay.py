"""The whole path over HTTP: pushes into the app's routes, the sweep and worker on moto's server, the sandbox
marketplace answering TOP calls — every trade reaches its expected outcome, none is posted twice."""

from __future__ import annotations

from collections import Counter

from sandbox.replay import Replay
from sandbox.world import default_sellers, generate
from tests.e2e.conftest import DAY


def test_replayed_day_reaches_every_expected_outcome(local_stack):
    sellers = default_sellers(12)
    trades, events = generate(DAY, sellers, seed=11)
    replay = Replay(local_stack, sellers, trades, events, DAY)
    replay.onboard()
    replay.run()
    report = replay.report(wall_seconds=0)
    assert report.ok, report.text
    market = local_stack.marketplace
    expected_posts = sum(1 for t in trades if t.expect == "posted")
    assert market.calls["taobao.traderate.add"] >= expected_posts
    assert sum(market.post_counts(int(t.tid)) for t in trades) == expected_posts
    outcomes = Counter(t.expect for t in trades)
    assert outcomes["posted"] == expected_posts > 0
