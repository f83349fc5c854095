"""The marketplace clock: GMT+8, written as ``YYYY-MM-DD HH:MM:SS``.

Inside haoping every instant is an aware UTC datetime; market time exists only at the edges (TOP
fields, per-day statistics, the ``{trade_date}`` template variable).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

MARKET_TZ = timezone(timedelta(hours=8), "GMT+8")
MARKET_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


class MarketTimeInvalid(ValueError):
    """A market timestamp that is not ``YYYY-MM-DD HH:MM:SS``."""


def _require_aware(dt: datetime) -> None:
    # A naive datetime has no defined instant; guessing its zone is how reviews land a day off.
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError("datetime must be timezone-aware")


def parse_market_time(text: str) -> datetime:
    """Parse a GMT+8 market timestamp into an aware UTC datetime; raise ``MarketTimeInvalid``.

    Only times in [2000, 2100) are market times: outside it, date arithmetic (a rating window, a day's end)
    could overflow. The message never quotes the text, which arrives next to buyer data and ends up in logs.
    """
    if not isinstance(text, str):
        raise MarketTimeInvalid(f"market time must be a string, not {type(text).__name__}")
    try:
        parsed = datetime.strptime(text.strip(), MARKET_TIME_FORMAT).replace(tzinfo=MARKET_TZ).astimezone(UTC)
    except (ValueError, OverflowError):
        raise MarketTimeInvalid("not a market time (YYYY-MM-DD HH:MM:SS)") from None
    if not EARLIEST <= parsed < LATEST:
        raise MarketTimeInvalid("market time out of range (2000-2099)")
    return parsed


def parse_market_value(value: object) -> datetime | None:
    """Parse a marketplace time as TOP sends it — a GMT+8 ``YYYY-MM-DD HH:MM:SS`` string or epoch milliseconds
    (number or digits) — into an aware UTC datetime; empty → None; raise ``MarketTimeInvalid`` otherwise.

    The one parser of marketplace times: API results, pushed messages and push timestamps all come through here.
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise MarketTimeInvalid("market time must be a string or epoch milliseconds")
    if isinstance(value, int | float) or (isinstance(value, str) and value.isascii() and value.isdigit()):
        try:
            parsed = datetime.fromtimestamp(int(value) / 1000, UTC)
        except (TypeError, ValueError, OverflowError, OSError):
            raise MarketTimeInvalid("not epoch milliseconds") from None
        if not EARLIEST <= parsed < LATEST:
            raise MarketTimeInvalid("market time out of range (2000-2099)")
        return parsed
    return parse_market_time(value)  # type: ignore[arg-type]


def format_market_time(dt: datetime) -> str:
    """Format an aware datetime as GMT+8 market time (seconds precision)."""
    _require_aware(dt)
    return dt.astimezone(MARKET_TZ).strftime(MARKET_TIME_FORMAT)


def market_date(dt: datetime) -> date:
    """The GMT+8 calendar day containing ``dt`` (the day a seller sees in the seller center)."""
    _require_aware(dt)
    return dt.astimezone(MARKET_TZ).date()
