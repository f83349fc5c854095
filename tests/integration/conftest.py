"""Integration fixtures: the app on moto in-process, talking to a sandbox marketplace over HTTP."""

from __future__ import annotations

import pytest

from tests.helpers import APP_KEY, APP_SECRET


@pytest.fixture
def market(aws, clock, monkeypatch):
    """A running sandbox marketplace sharing the test clock; the app is pointed at it."""
    from sandbox.market import SandboxMarketplace
    from sandbox.stack import rebind_app

    sandbox = SandboxMarketplace(APP_KEY, APP_SECRET, clock.now, session_ttl_seconds=40 * 86400)
    url = sandbox.start()
    monkeypatch.setenv("HAOPING_MARKETPLACE_URL", url)
    monkeypatch.setenv("HAOPING_OAUTH_URL", url + "/oauth")
    rebind_app()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def client(aws):
    """chalice's test client over the app."""
    from chalice.test import Client

    from app import app

    with Client(app) as c:
        yield c


@pytest.fixture
def shop(market, clock):
    """A subscribed seller known to the marketplace and onboarded in the app; returns (seller_id, nick)."""
    from tests.helpers import make_seller

    account = market.add_seller("test_shop")
    seller_id = make_seller(clock.now(), user_id=account.user_id, access_token=account.access_token)
    return seller_id
