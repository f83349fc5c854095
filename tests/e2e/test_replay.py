"""The whole path over HTTP: pushes into the app's routes, the sweep and worker on moto's server, the sandbox
marketplace answering TOP calls — every trade reaches its expected outcome, none is posted twice."""

from __future__ import annotations

from collections import Counter


def test_replayed_day_reaches_every_expected_outcome(replayed_day):
    trades, report = replayed_day.trades, replayed_day.report
    assert report.ok, report.text
    market = replayed_day.marketplace
    expected_posts = sum(1 for t in trades if t.expect == "posted")
    assert market.calls["taobao.traderate.add"] >= expected_posts
    assert sum(market.post_counts(int(t.tid)) for t in trades) == expected_posts
    outcomes = Counter(t.expect for t in trades)
    assert outcomes["posted"] == expected_posts > 0
