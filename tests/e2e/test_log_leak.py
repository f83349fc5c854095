"""A replayed market day over the whole local stack, with every line the app writes captured: no token, secret,
session or buyer identity of the simulated world may appear anywhere in it."""

from __future__ import annotations

from chalicelib.security.buyer_id import shop_key

# The warned shop, then the three that share the extortion they confirm (the extortion scenario of the standard day).
SHOPS = ("乐活小铺", "delay_shop", "buyer_first_shop", "dry_run_shop")


def test_no_secret_or_buyer_identity_reaches_the_logs(replayed_day):
    day, replay = replayed_day, replayed_day.replay
    assert day.report.ok, day.report.text
    assert set(SHOPS) <= {s.nick for s in day.sellers}

    output = day.output
    # The capture really holds the app's records of this run (a silent capture would prove nothing).
    assert '"message":"review posted"' in output and '"message":"job done"' in output
    assert '"message":"extortion warning"' in output and replay.extortion_stats["shared"] == 3
    assert all(t.tid in output for t in day.trades if t.seller_nick == "乐活小铺")
    secrets = day.secrets
    assert all(secrets.values()) and len(secrets) == 3 + 3 * len(day.sellers) + 2 * len(day.trades)
    assert [name for name, value in secrets.items() if value in output] == []
    # No line about a warning names a contributing shop, and no shop key (even hashed) is ever written.
    contributors = [replay.seller_ids[nick] for nick in SHOPS[1:]]
    warnings = [line for line in output.splitlines() if "extortion warning" in line]
    assert warnings and not any(c in line for c in contributors for line in warnings)
    assert not any(shop_key(day.buyer_hash_secret, c) in output for c in contributors)
