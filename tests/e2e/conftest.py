"""End-to-end fixtures: the whole local stack over HTTP (moto server, sandbox marketplace, the app's routes)."""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from sandbox.market.clock import FakeClock
from sandbox.world import market_midnight

DAY = market_midnight(datetime(2026, 11, 11, 12, tzinfo=UTC))


@contextlib.contextmanager
def started_local_stack():
    """A started LocalStack on a fake clock one day before the replayed market day; env restored after."""
    from sandbox.stack import LocalStack, rebind_app

    saved = dict(os.environ)
    stack = LocalStack(FakeClock(DAY.astimezone(UTC) - timedelta(days=1))).start()
    try:
        yield stack
    finally:
        stack.stop()
        os.environ.clear()
        os.environ.update(saved)
        rebind_app()


@pytest.fixture
def local_stack():
    """A started LocalStack on a fake clock one day before the replayed market day; env restored after."""
    with started_local_stack() as stack:
        yield stack


@dataclass(frozen=True)
class ReplayedDay:
    """The standard market day replayed once over the whole local stack, with every line the app wrote."""

    sellers: list
    trades: list
    replay: object  # sandbox.replay.Replay: seller ids, sessions, extortion answers
    report: object  # sandbox.replay.Report, read while the stack ran
    marketplace: object  # the sandbox marketplace the day ran against (its calls and accepted posts)
    output: str  # the app's logs and metrics, at DEBUG (the most it ever writes), and anything on stderr
    secrets: dict[str, str]  # every secret value the run handled, named for failure messages
    buyer_hash_secret: bytes


def _secrets_of(stack, replay, trades) -> dict[str, str]:
    """Every secret value the run handled, named for the failure message (read while the stack runs)."""
    from chalicelib.container import container
    from chalicelib.services.sellers.seller_tokens import access_token, refresh_token
    from chalicelib.store import sellers

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


@pytest.fixture(scope="session")
def replayed_day() -> ReplayedDay:
    """The standard day (``default_sellers(12)``, seed 11), replayed once for the session with the app's output
    captured: the replay's outcome test and the log-leak test both assert on this one run (it is the suite's
    costliest step)."""
    from chalicelib.container import container
    from chalicelib.telemetry import logger
    from sandbox.replay import Replay
    from sandbox.run import app_output_to
    from sandbox.world import default_sellers, generate

    sellers = default_sellers(12)
    trades, events = generate(DAY, sellers, seed=11)
    captured = io.StringIO()
    with started_local_stack() as stack:
        level = logger.log_level
        logger.setLevel("DEBUG")
        try:
            with app_output_to(captured), contextlib.redirect_stderr(captured):
                replay = Replay(stack, sellers, trades, events, DAY)
                replay.onboard()
                replay.run()
                report = replay.report(wall_seconds=0)
        finally:
            logger.setLevel(level)
        return ReplayedDay(
            sellers=sellers,
            trades=trades,
            replay=replay,
            report=report,
            marketplace=stack.marketplace,
            output=captured.getvalue(),
            secrets=_secrets_of(stack, replay, trades),
            buyer_hash_secret=container().buyer_hash_secret(),
        )
