"""Integration fixtures: the app on moto in-process, talking to a sandbox marketplace over HTTP."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest

from tests.helpers import APP_KEY, APP_SECRET

# The functions' timeout in the template (``lambda_timeout`` of the Chalice config).
CHALICE_CONFIG = Path(__file__).parents[2] / ".chalice" / "config.json"
LAMBDA_TIMEOUT_MS = 1000 * json.loads(CHALICE_CONFIG.read_text(encoding="utf-8"))["lambda_timeout"]


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
def client(aws, monkeypatch):
    """chalice's test client over the app. Its ``lambda_.invoke`` gives every invocation the template's timeout:
    chalice's own default is 3 s, which a job's reserve for its deadline nearly uses up on a loaded machine, so a
    test that is not about deadlines would meet one. (Tests about deadlines pass their own contexts.)"""
    import chalice.test
    from chalice.test import Client

    from app import app

    timed = functools.partial(chalice.test.LambdaContext, max_runtime_ms=LAMBDA_TIMEOUT_MS)
    monkeypatch.setattr(chalice.test, "LambdaContext", timed)

    with Client(app) as c:
        yield c


@pytest.fixture
def shop(market, clock):
    """A subscribed seller known to the marketplace and onboarded in the app; returns (seller_id, nick)."""
    from tests.helpers import make_seller

    account = market.add_seller("test_shop")
    seller_id = make_seller(clock.now(), user_id=account.user_id, access_token=account.access_token)
    return seller_id
