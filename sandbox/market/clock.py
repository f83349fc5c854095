"""A controllable clock shared by the sandbox, the tests and the local stack runner."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class FakeClock:
    """Timezone-aware UTC time that moves only when told to; callable, so it can be passed as ``now``."""

    def __init__(self, start: datetime | None = None) -> None:
        start = start or datetime(2024, 6, 1, 4, 0, tzinfo=UTC)
        if start.tzinfo is None:
            raise ValueError("the clock needs a timezone-aware start")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """The current fake time."""
        with self._lock:
            return self._now

    __call__ = now

    def advance(self, seconds: float) -> datetime:
        """Move time forward by ``seconds`` and return the new time."""
        if seconds < 0:
            raise ValueError("time only moves forward")
        with self._lock:
            self._now += timedelta(seconds=seconds)
            return self._now

    def set(self, moment: datetime) -> None:
        """Jump to ``moment`` (aware), forwards or backwards."""
        if moment.tzinfo is None:
            raise ValueError("the clock needs a timezone-aware time")
        with self._lock:
            self._now = moment.astimezone(UTC)
