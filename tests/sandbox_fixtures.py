"""Pytest fixtures for the sandbox marketplace; import them into a test module to use them."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from chalicelib.marketplace.client import TopClient
from sandbox.market import FakeClock, SandboxMarketplace

APP_KEY = "23001234"
APP_SECRET = "sandbox-app-secret"
START = datetime(2024, 6, 1, 4, 0, tzinfo=UTC)


class RecordingSleep:
    """Stands in for ``time.sleep``: remembers the delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def make_client(market: SandboxMarketplace, **overrides: object) -> TopClient:
    """A client bound to ``market`` and its clock that never really sleeps."""
    options: dict = {
        "now": market.clock,
        "sleep": RecordingSleep(),
        "rng": random.Random(0),
        # Generous: on a shared, loaded machine a page of the sandbox can take seconds, and a timed-out read is
        # retried, which would add a call to the counts tests assert. Tests of timeouts set their own.
        "read_timeout": 30.0,
        **overrides,
    }
    return TopClient(market.base_url, APP_KEY, APP_SECRET, **options)


def started_sandbox(**options: object) -> SandboxMarketplace:
    """A started sandbox on its own fake clock; the caller stops it."""
    market = SandboxMarketplace(APP_KEY, APP_SECRET, FakeClock(START), **options)  # type: ignore[arg-type]
    market.start()
    return market


@pytest.fixture
def sandbox() -> Iterator[SandboxMarketplace]:
    """A fresh started sandbox; ``sandbox.clock_ctl`` moves its time."""
    market = started_sandbox()
    yield market
    market.stop()


@pytest.fixture
def top_client(sandbox: SandboxMarketplace) -> TopClient:
    """A ``TopClient`` bound to the ``sandbox`` fixture."""
    return make_client(sandbox)
