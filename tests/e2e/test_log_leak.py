"""A replayed market day over the whole local stack, with every line the app writes captured: no token, secret,
session or buyer identity of the simulated world may appear anywhere in it."""

from __future__ import annotations

import contextlib
import io

from chalicelib.container import container
from chalicelib.security.buyer_id import shop_key
from chalicelib.services.sellers.seller_tokens import access_token, refresh_token
from chalicelib.store import sellers
from chalicelib.telemetry import logger
from sandbox.replay import Replay
from sandbox.run import app_output_to
from sandbox.world import default_sellers, generate
from tests.e2e.conftest import DAY


def _secrets_of(stack, replay: Replay, trades) -> dict[str, str]:
    """Every secret value the run handled, named for the failure message."""
    found = {
        "app secret": stack.app_secret,
        "buyer hash secret": container().buyer_hash_secret().decode(),
        "session secret": container().session_secret().decode(),
    }
    now = stack.clock.now()
    for nick, seller_id in replay.seller_ids.items():
        seller = sellers.get(seller_id)
        found[f"access token of {nick}"] = access_token(seller, now=now)
        found[f"refresh token of {nick}"] = refresh_token(seller, now=now)
        found[f"seller session of {nick}"] = replay.sessions[nick]
    for t in trades:
        found[f"buyer nick of {t.tid}"] = t.buyer_nick
        found[f"buyer open uid of {t.tid}"] = t.buyer_open_uid
    return found


def test_no_secret_or_buyer_identity_reaches_the_logs(local_stack):
    # The three sharing shops and the warned one: the extortion scenario (confirmations, the warning, the memo) runs.
    shops = ("乐活小铺", "delay_shop", "buyer_first_shop", "dry_run_shop")
    sellers_ = [s for s in default_sellers(4) if s.nick in shops]
    trades, events = generate(DAY, sellers_, seed=23)
    captured = io.StringIO()
    level = logger.log_level
    logger.setLevel("DEBUG")  # the most the app ever writes
    try:
        with app_output_to(captured), contextlib.redirect_stderr(captured):
            replay = Replay(local_stack, sellers_, trades, events, DAY)
            replay.onboard()
            replay.run()
            report = replay.report(wall_seconds=0)
    finally:
        logger.setLevel(level)
    assert report.ok, report.text

    output = captured.getvalue()
    # The capture really holds the app's records of this run (a silent capture would prove nothing).
    assert '"message":"review posted"' in output and '"message":"job done"' in output
    assert '"message":"extortion warning"' in output and replay.extortion_stats["shared"] == 3
    assert all(t.tid in output for t in trades if t.seller_nick == "乐活小铺")
    secrets = _secrets_of(local_stack, replay, trades)
    assert all(secrets.values()) and len(secrets) == 3 + 3 * len(sellers_) + 2 * len(trades)
    assert [name for name, value in secrets.items() if value in output] == []
    # No line about a warning names a contributing shop, and no shop key (even hashed) is ever written.
    secret = container().buyer_hash_secret()
    contributors = [replay.seller_ids[nick] for nick in shops[1:]]
    warnings = [line for line in output.splitlines() if "extortion warning" in line]
    assert warnings and not any(c in line for c in contributors for line in warnings)
    assert not any(shop_key(secret, c) in output for c in contributors)
