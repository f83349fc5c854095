"""Fault injection and call quotas for the sandbox, settable at runtime (Python or ``/admin/faults``).

Random decisions come from one seeded ``random.Random`` so a test sees the same faults on every run.
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from chalicelib.marketplace.errors import BAN_MESSAGE, SUB_APP_ACCESS_LIMITED, SUB_REMOTE_SERVICE_ERROR, TopCode
from chalicelib.marketplace.models import parse_top_time
from sandbox.market.protocol import ApiFault

ALL_APIS = "*"
_SETTING_NAMES = (
    "error_rate",
    "error_code",
    "error_sub_code",
    "after_effect",
    "latency_ms",
    "outage",
    "malformed",
    "truncated",
)


@dataclass(frozen=True)
class FaultSettings:
    """Faults for one API (or ``*``): rates are probabilities per call; ``outage`` is a clock window.

    An injected error answers ``error_code``/``error_sub_code`` (a platform-side failure by default); with
    ``after_effect`` the call first takes effect (a rating is recorded), so only its answer is wrong.
    """

    error_rate: float = 0.0
    error_code: int = TopCode.REMOTE_SERVICE_ERROR
    error_sub_code: str | None = SUB_REMOTE_SERVICE_ERROR
    after_effect: bool = False
    latency_ms: int = 0
    outage: tuple[datetime, datetime] | None = None
    malformed: float = 0.0
    truncated: float = 0.0


@dataclass(frozen=True)
class FaultPlan:
    """What to do to one call."""

    outage: bool = False
    latency_seconds: float = 0.0
    error: ApiFault | None = None
    error_after_effect: bool = False
    malformed: bool = False
    truncated: bool = False


def _rate(value: bool | float) -> float:
    return float(value) if not isinstance(value, bool) else (1.0 if value else 0.0)


def _moment(value: object) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and "T" in value:
        return datetime.fromisoformat(value)
    parsed = parse_top_time(value)
    if parsed is None:
        raise ValueError("outage bounds are required")
    return parsed


def _injected(settings: FaultSettings) -> ApiFault:
    return ApiFault(settings.error_code, "Injected fault", settings.error_sub_code, "injected by the sandbox")


def throttled(seconds: int) -> ApiFault:
    """The platform's app-quota refusal, saying how long the ban lasts."""
    return ApiFault(
        TopCode.APP_CALL_LIMITED, "App Call Limited", SUB_APP_ACCESS_LIMITED, BAN_MESSAGE.format(seconds=seconds)
    )


class Faults:
    """Per-API fault settings, a manual ban, and the app call quota, all measured on the injected clock."""

    def __init__(
        self,
        clock: Callable[[], datetime],
        *,
        seed: int = 0,
        quota_per_window: int | None = None,
        quota_window_seconds: int = 60,
        ban_seconds: int = 600,
    ) -> None:
        self._clock = clock
        self._seed = seed
        self._rng = random.Random(seed)
        self._quota = quota_per_window
        self._quota_window = timedelta(seconds=quota_window_seconds)
        self._ban = timedelta(seconds=ban_seconds)
        self._lock = threading.Lock()
        self._settings: dict[str, FaultSettings] = {}
        self._banned_until: datetime | None = None
        self._window_start: datetime | None = None
        self._window_calls = 0

    def set(
        self,
        api: str = ALL_APIS,
        *,
        error_rate: float = 0.0,
        error_code: int = TopCode.REMOTE_SERVICE_ERROR,
        error_sub_code: str | None = SUB_REMOTE_SERVICE_ERROR,
        after_effect: bool = False,
        latency_ms: int = 0,
        outage: tuple[object, object] | list[object] | None = None,
        malformed: bool | float = False,
        truncated: bool | float = False,
    ) -> FaultSettings:
        """Replace the faults of ``api`` (``*`` applies to every API without its own settings)."""
        settings = FaultSettings(
            error_rate=_rate(error_rate),
            error_code=int(error_code),
            error_sub_code=error_sub_code,
            after_effect=bool(after_effect),
            latency_ms=int(latency_ms),
            outage=(_moment(outage[0]), _moment(outage[1])) if outage else None,
            malformed=_rate(malformed),
            truncated=_rate(truncated),
        )
        with self._lock:
            self._settings[api] = settings
        return settings

    def set_from_json(self, data: Mapping[str, object]) -> None:
        """Apply an ``/admin/faults`` body: the ``set`` fields (with ``api``) and/or ``ban_seconds``."""
        fields = {k: data[k] for k in _SETTING_NAMES if k in data}
        if fields or "api" in data:
            self.set(str(data.get("api") or ALL_APIS), **fields)  # type: ignore[arg-type]
        if data.get("ban_seconds") is not None:
            self.ban(int(data["ban_seconds"]))  # type: ignore[call-overload]

    def ban(self, seconds: int) -> None:
        """Refuse every call with code 7 for ``seconds`` of clock time."""
        with self._lock:
            self._banned_until = self._clock() + timedelta(seconds=seconds)

    def clear(self) -> None:
        """Remove every fault and ban, reset the quota window and reseed the random source."""
        with self._lock:
            self._settings.clear()
            self._banned_until = None
            self._window_start = None
            self._window_calls = 0
            self._rng = random.Random(self._seed)

    def describe(self) -> dict:
        """Current settings, for ``GET /admin/faults``."""
        with self._lock:
            settings = {
                api: {**asdict(s), "outage": [t.isoformat() for t in s.outage] if s.outage else None}
                for api, s in self._settings.items()
            }
            banned = self._banned_until.isoformat() if self._banned_until else None
        return {"apis": settings, "banned_until": banned, "quota_per_window": self._quota}

    def plan(self, api: str) -> FaultPlan:
        """Decide the faults of one call to ``api``."""
        with self._lock:
            settings = self._settings.get(api) or self._settings.get(ALL_APIS)
            if settings is None:
                return FaultPlan()
            now = self._clock()
            return FaultPlan(
                outage=settings.outage is not None and settings.outage[0] <= now < settings.outage[1],
                latency_seconds=settings.latency_ms / 1000,
                error=_injected(settings) if self._draw(settings.error_rate) else None,
                error_after_effect=settings.after_effect,
                malformed=self._draw(settings.malformed),
                truncated=self._draw(settings.truncated),
            )

    def _draw(self, rate: float) -> bool:
        # Certain outcomes do not consume randomness, so adding one fault does not shift the others.
        if rate <= 0:
            return False
        return rate >= 1 or self._rng.random() < rate

    def admit(self) -> None:
        """Count one call against the quota; raise the code-7 refusal while a ban holds."""
        with self._lock:
            now = self._clock()
            if self._banned_until is not None and now < self._banned_until:
                raise throttled(math.ceil((self._banned_until - now).total_seconds()))
            if self._quota is None:
                return
            if self._window_start is None or now >= self._window_start + self._quota_window:
                self._window_start = now
                self._window_calls = 0
            self._window_calls += 1
            if self._window_calls > self._quota:
                self._banned_until = now + self._ban
                raise throttled(int(self._ban.total_seconds()))
