"""Which alerts go to a seller's group robots, and when: per-event choices, quiet hours, the robots' rate limits.

Every alert is kept in the in-app inbox; the robots get the events the seller chose, outside quiet hours, and never
faster than the robots accept (DingTalk and WeCom both allow 20 messages a minute per robot; beyond it DingTalk
throttles the robot for 10 minutes), so several alerts waiting for one robot go out as one digest.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Literal

from chalicelib.domain.market_time import MARKET_TZ

AlertEvent = Literal["rating", "extortion", "review_failed", "expiring", "backfill_done"]
EVENTS: tuple[AlertEvent, ...] = ("rating", "extortion", "review_failed", "expiring", "backfill_done")
Channel = Literal["dingtalk", "wecom"]
CHANNELS: tuple[Channel, ...] = ("dingtalk", "wecom")

# Alert kind (as the services raise it) → the event a seller chooses to be told about on the robots. A kind not
# listed (the weekly summary) stays in the inbox only.
_KIND_EVENT: dict[str, AlertEvent] = {
    "buyer_rating_neutral": "rating",
    "buyer_rating_bad": "rating",
    "suspected_extortion": "extortion",
    "review_failed": "review_failed",
    "content_rejected": "review_failed",
    "permission_denied": "review_failed",
    "seller_paused": "review_failed",
    "explanation_failed": "review_failed",
    "explanation_rejected": "review_failed",
    "plan_expiring": "expiring",
    "reauth_needed": "expiring",
    "backfill_done": "backfill_done",
}

# Messages one robot is sent in one clock minute. Two adjacent minutes hold at most twice this, so any 60 seconds
# stay within the robots' 20: a sliding-window limiter (as DingTalk's is) never throttles us.
MINUTE_CAP = 10
# How long a robot that answered "too fast" is left alone (DingTalk throttles it for 10 minutes).
THROTTLE_PAUSE = timedelta(minutes=10)
# Lines of a digest before "and N more"; the robots take about 2,000 bytes of text (WeCom: 2,048).
DIGEST_LINES = 10
TEXT_MAX_BYTES = 2000
# Delivery attempts of one alert to one robot before it is given up (it stays in the inbox).
MAX_ATTEMPTS = 8


def event_of(kind: str) -> AlertEvent | None:
    """The seller-facing event of an alert kind, or None when robots never carry it."""
    return _KIND_EVENT.get(kind)


def in_quiet_hours(now: datetime, quiet_from: int | None, quiet_to: int | None) -> bool:
    """Whether ``now`` (Beijing time) is in the quiet hours [``quiet_from``, ``quiet_to``), which may span midnight."""
    if quiet_from is None or quiet_to is None or quiet_from == quiet_to:
        return False
    hour = now.astimezone(MARKET_TZ).hour
    if quiet_from < quiet_to:
        return quiet_from <= hour < quiet_to
    return hour >= quiet_from or hour < quiet_to


def quiet_ends(now: datetime, quiet_from: int | None, quiet_to: int | None) -> datetime:
    """When robots may speak again: ``now`` outside quiet hours, else the next ``quiet_to`` o'clock (Beijing time)."""
    if not in_quiet_hours(now, quiet_from, quiet_to):
        return now
    local = now.astimezone(MARKET_TZ)
    end = local.replace(hour=quiet_to, minute=0, second=0, microsecond=0)
    if end <= local:
        end += timedelta(days=1)
    return end.astimezone(now.tzinfo)


def retry_delay(attempts: int) -> timedelta:
    """Back-off before the next delivery attempt after ``attempts`` failed ones: 1, 2, 4 … minutes, at most an hour."""
    return timedelta(minutes=min(60, 2 ** max(0, attempts - 1)))


def fit_bytes(text: str, limit: int = TEXT_MAX_BYTES) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes, on a character boundary, marked with "…" when cut."""
    raw = text.encode("utf-8")
    if len(raw) <= limit:
        return text
    return raw[: limit - 3].decode("utf-8", errors="ignore") + "…"


def compose(messages: Sequence[str], *, title: Callable[[int], str], more: Callable[[int], str]) -> str:
    """One robot message for the waiting alerts: the alert itself when there is one, else a digest.

    ``title(n)`` heads a digest of ``n`` alerts; ``more(n)`` is the line for the ``n`` past the digest's length.
    """
    if len(messages) == 1:
        return fit_bytes(messages[0])
    lines = [title(len(messages))]
    lines += [f"{i}. {text}" for i, text in enumerate(messages[:DIGEST_LINES], start=1)]
    if len(messages) > DIGEST_LINES:
        lines.append(more(len(messages) - DIGEST_LINES))
    return fit_bytes("\n".join(lines))
