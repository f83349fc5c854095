"""End-to-end fixtures: the whole local stack over HTTP (moto server, sandbox marketplace, the app's routes)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest

from sandbox.market.clock import FakeClock
from sandbox.world import market_midnight

DAY = market_midnight(datetime(2026, 11, 11, 12, tzinfo=UTC))


@pytest.fixture
def local_stack():
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
