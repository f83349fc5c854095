"""A simulated day of a marketplace: sellers with different settings, buyers, trades, ratings and refunds.

Everything is generated from a seed, so a replay is reproducible; each trade carries the outcome the app
is expected to reach, which the runner checks at the end.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from chalicelib.domain.market_time import MARKET_TZ


@dataclass(frozen=True)
class Purchase:
    """A subscription the shop buys on the service market; times are offsets from the replayed day's midnight.

    ``at`` None means before the replay, while the shop is onboarded. ``delivered=False`` loses the market's
    billing callback: the daily billing pass must recover the order (it does so well before the cycle starts,
    so expectations count the order from its purchase). ``refund_at`` refunds it in full.
    """

    item_code: str
    biz_type: int
    start: timedelta
    end: timedelta
    fee: int
    at: timedelta | None = None
    delivered: bool = True
    refund_at: timedelta | None = None


@dataclass(frozen=True)
class SellerSpec:
    """A simulated shop and how it configured the app."""

    nick: str
    settings: dict
    plan: str = "FW_GOODS-1000000-1"
    trades: int = 40
    dry_run: bool = False
    # The replay writes this hourly cap for the shop's plan as a rules override (the write guard's cap).
    hourly_cap: int | None = None
    # The shop's trades end one per tick from this minute of the market day (a flash sale).
    burst_minute: int | None = None
    # What the shop buys on the service market (the app works for it only inside the paid periods); None buys
    # its plan for the whole replay, () buys nothing.
    purchases: tuple[Purchase, ...] | None = None
    # The shop's own group robots (``dingtalk``, ``wecom``): set up through the API, played by the sandbox.
    robots: tuple[str, ...] = ()
    # The seller pauses automatic reviews from the page at the first offset (from the day's midnight) and resumes
    # them at the second: trades pushed meanwhile wait, and go out on resume.
    pause: tuple[timedelta, timedelta] | None = None


@dataclass
class TradeSpec:
    """One trade of the day and what should become of it."""

    seller_nick: str
    tid: str
    oid: str
    buyer_nick: str
    buyer_open_uid: str
    item_title: str
    payment: str
    ended_at: datetime
    buyer_rating: tuple[datetime, str] | None = None
    refund: list[tuple[datetime, str]] = field(default_factory=list)
    expect: str = "posted"
    post_at: datetime | None = None  # set when the write guard moves the post (see ``_capped_post_times``)
    buyer_words: str | None = None  # what the buyer writes with the rating (else a complaint picked by tid)
    paid_at: datetime | None = None  # the buyer's payment is pushed (TradeBuyerPay) at this moment
    confirm_at: datetime | None = None  # the shop confirms the rating as extortion (one click) at this moment
    skip_by_item_id: bool = False  # the shop skips this trade's item by its id (judged before posting)


@dataclass(frozen=True)
class WorldEvent:
    """Something that happens on the marketplace at a moment: it becomes a pushed message."""

    at: datetime
    kind: str
    trade: TradeSpec


BASIC = "FW_GOODS-1000000-1"
PRO = "FW_GOODS-1000000-2"
CAPPED = "FW_GOODS-1000000-9"  # a plan with a tiny hourly cap, defined by the replay's rules override
# The operator reads the overnight alerts and resumes paused shops at 09:00 the next market day.
OPERATOR_RESUME = timedelta(days=1, hours=9)
ITEMS = ("纯棉T恤", "保温杯", "蓝牙耳机", "儿童绘本", "手工皂", "帆布包", "茶叶礼盒", "数据线")
# Each item's id on the marketplace (``num_iid``): the trades carry it, the pushed messages do not.
ITEM_IDS = {title: 600_000_000_100 + n for n, title in enumerate(ITEMS)}
TEMPLATES = [
    "感谢{buyer_masked}的支持，{shop_name}期待您再次光临！",
    "亲爱的{buyer_masked}，您购买的{item_title}已确认收货，祝生活愉快。",
]


# 差评师预警 in the replayed day: these shops share the extortion they confirm; 乐活小铺 is warned (and flags the
# order's memo) when a buyer confirmed by three of them pays.
SHARES = {"extortion_contribute": True}
PRESSURE_BUYER = ("tb_pressure_buyer", "AAHpressurebuyer0001")
PRESSURE_WORDS = "不给我返现二十块就给差评"


def default_sellers(trades_per_seller: int = 40) -> list[SellerSpec]:
    """The shops of the standard replay: one per timing mode, a dry-run shop, and a flash-sale shop whose
    burst of trades reaches its plan's hourly cap (the rest wait for the next market hour).

    Each buys its plan on the service market. Three of them share the extortion they confirm and 乐活小铺 is warned
    (see ``extortion_scenario``). During the replay 乐活小铺 renews (the market's callback is
    lost and reconciliation recovers it), delay_shop upgrades to PRO, then buys a renewal and has it
    refunded, and buyer_first_shop lets its plan lapse six days after the trading day (every buyer rating is in
    by then) and renews only on day 14 at 18:00: the fallback reviews (two days before the window closes) due
    meanwhile are held, then posted at the renewal with hours of their rating window to spare.
    """
    base = {"templates": TEMPLATES, "template_strategy": "rotate"}
    day = timedelta(days=1)
    return [
        SellerSpec(
            "乐活小铺",
            # Its alerts go to its DingTalk and WeCom groups, never between 23:00 and 07:00 (Beijing time).
            {
                **base,
                "mode": "immediate",
                "extortion_receive": True,
                "extortion_on_paid": "memo",
                "alerts": {"quiet_from": 23, "quiet_to": 7},
            },
            BASIC,
            trades_per_seller,
            robots=("dingtalk", "wecom"),
            purchases=(
                Purchase(BASIC, 1, -20 * day, 10 * day, 1500),
                Purchase(BASIC, 2, 10 * day, 40 * day, 1500, at=5 * day, delivered=False),
            ),
        ),
        SellerSpec(
            "delay_shop",
            {**base, "mode": "delay", "delay_hours": 6, **SHARES},
            BASIC,
            trades_per_seller,
            purchases=(
                Purchase(BASIC, 1, -10 * day, 20 * day, 1500),
                Purchase(PRO, 3, 2 * day, 20 * day, 900, at=2 * day),
                Purchase(PRO, 2, 20 * day, 50 * day, 3000, at=8 * day, refund_at=9 * day),
            ),
        ),
        SellerSpec(
            "buyer_first_shop",
            {**base, "mode": "after_buyer", "fallback_margin_hours": 48, **SHARES},
            PRO,
            trades_per_seller,
            purchases=(
                Purchase(PRO, 1, -24 * day, 6 * day, 3000),
                Purchase(PRO, 2, 14.75 * day, 44.75 * day, 3000, at=14.75 * day),
            ),
        ),
        SellerSpec(
            "dry_run_shop",
            {**base, "mode": "immediate", "dry_run": True, **SHARES},
            BASIC,
            trades_per_seller,
            dry_run=True,
            purchases=(Purchase(BASIC, 1, -5 * day, 25 * day, 1500),),
        ),
        SellerSpec(
            "capped_shop",
            {**base, "mode": "immediate"},
            CAPPED,
            min(7, trades_per_seller),
            hourly_cap=4,
            burst_minute=20 * 60,
            purchases=(Purchase(CAPPED, 1, -5 * day, 25 * day, 1500),),
        ),
        SellerSpec(
            "paused_shop",
            {**base, "mode": "immediate", "phrase_types": ["clothing", "general"]},
            BASIC,
            min(16, trades_per_seller),
            pause=(timedelta(hours=13), timedelta(hours=19)),
            purchases=(Purchase(BASIC, 1, -5 * day, 25 * day, 1500),),
        ),
        SellerSpec(
            "filter_shop",
            {
                **base,
                "mode": "delay",
                "delay_hours": 6,
                "random_delay": {"min_minutes": 0, "max_minutes": 120},
                "on_buyer_neutral_or_bad": "rate_good_anyway",
                # 手工皂 by its item id: the app reads it from the marketplace before posting, as the push has none.
                "filters": {
                    "min_amount": "50",
                    "skip_items": ["数据线", str(ITEM_IDS["手工皂"])],
                    "skip_dispute_buyers": True,
                },
                "phrase_types": ["home", "digital"],
            },
            BASIC,
            min(24, trades_per_seller),
            purchases=(Purchase(BASIC, 1, -5 * day, 25 * day, 1500),),
        ),
    ]


def purchases_of(spec: SellerSpec) -> tuple[Purchase, ...]:
    """What the shop buys: its own purchases, or its plan from a month before the day to two months after."""
    if spec.purchases is not None:
        return spec.purchases
    return (Purchase(spec.plan, 1, timedelta(days=-30), timedelta(days=60), 1500),)


def paid_periods(spec: SellerSpec, day: datetime) -> list[tuple[datetime, datetime]]:
    """The shop's paid periods on the market (purchases not refunded), merged; absolute times."""
    midnight = market_midnight(day)
    spans = sorted((midnight + p.start, midnight + p.end) for p in purchases_of(spec) if p.refund_at is None)
    merged: list[tuple[datetime, datetime]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def rules_override(sellers: list[SellerSpec]) -> dict | None:
    """The rules override the replay writes before onboarding: the plans of the capped shops."""
    plans = {
        spec.plan: {"name": "限流演示版", "features": ["immediate"], "hourly_cap": spec.hourly_cap}
        for spec in sellers
        if spec.hourly_cap is not None
    }
    return {"version": "replay-1", "plans": plans} if plans else None


def operator_resume_at(day: datetime) -> datetime:
    """When the simulated operator resumes the shops the write guard paused."""
    return market_midnight(day) + OPERATOR_RESUME


def market_midnight(day: datetime) -> datetime:
    """00:00 GMT+8 of the market day containing ``day``."""
    local = day.astimezone(MARKET_TZ)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def _trade_minute(rng: random.Random) -> int:
    # Evening-heavy like real shops: most trades confirm between 09:00 and 23:00 market time.
    if rng.random() < 0.85:
        return rng.randint(9 * 60, 23 * 60 - 1)
    return rng.randint(0, 24 * 60 - 1)


def generate(
    day: datetime, sellers: list[SellerSpec], *, seed: int = 7, rating_rate: float = 0.7, refund_rate: float = 0.06
) -> tuple[list[TradeSpec], list[WorldEvent]]:
    """Trades of one market day for ``sellers`` and the timed events they produce."""
    rng = random.Random(seed)
    start = market_midnight(day)
    trades: list[TradeSpec] = []
    tid = 3_900_000_000_000_000
    for spec in sellers:
        shop: list[TradeSpec] = []
        for i in range(spec.trades):
            tid += rng.randint(1, 5000)
            if spec.burst_minute is None:
                ended = start + timedelta(minutes=_trade_minute(rng), seconds=rng.randint(0, 59))
            else:  # one trade inside each tick, so the order of the posts is known
                ended = start + timedelta(minutes=spec.burst_minute + 5 * i, seconds=rng.randint(1, 240))
            buyer = f"tb_buyer_{rng.randint(10000, 99999)}"
            trade = TradeSpec(
                seller_nick=spec.nick,
                tid=str(tid),
                oid=str(tid + 1),
                buyer_nick=buyer,
                buyer_open_uid=f"AAH{rng.getrandbits(64):016x}",
                item_title=rng.choice(ITEMS),
                payment=f"{rng.randint(9, 399)}.00",
                ended_at=ended,
            )
            if rng.random() < rating_rate:
                roll = rng.random()
                result = "good" if roll < 0.9 else ("neutral" if roll < 0.96 else "bad")
                trade.buyer_rating = (ended + timedelta(hours=rng.uniform(0.5, 96)), result)
            if rng.random() < refund_rate:
                created = ended + timedelta(minutes=rng.uniform(20, 90))
                closing = "closed" if rng.random() < 0.5 else "succeeded"
                trade.refund = [(created, "created"), (created + timedelta(hours=rng.uniform(1, 48)), closing)]
            shop.append(trade)
        if spec.hourly_cap is not None:
            _capped_post_times(spec, shop, day)
        paid = paid_periods(spec, day)
        for trade in shop:
            trade.expect = expected_outcome(spec, trade, paid)
        trades.extend(shop)
    trades.extend(extortion_scenario(day, sellers))
    events = [WorldEvent(t.ended_at, "trade_success", t) for t in trades]
    for t in trades:
        if t.buyer_rating:
            events.append(WorldEvent(t.buyer_rating[0], "buyer_rated", t))
        events.extend(WorldEvent(at, f"refund_{what}", t) for at, what in t.refund)
        if t.confirm_at:
            events.append(WorldEvent(t.confirm_at, "extortion_confirmed", t))
        if t.paid_at:
            events.append(WorldEvent(t.paid_at, "buyer_paid", t))
    events.sort(key=lambda e: e.at)
    return trades, events


def extortion_scenario(day: datetime, sellers: list[SellerSpec]) -> list[TradeSpec]:
    """A buyer who pressures three sharing shops with a bad rating ("give me cash back or I rate you bad"), each of
    which confirms it with one click, then pays an order at a fourth shop, which is warned. Empty unless the day
    has three shops that share and one that is warned."""
    sharing = [spec for spec in sellers if spec.settings.get("extortion_contribute")][:3]
    warned = next((spec for spec in sellers if spec.settings.get("extortion_receive")), None)
    if len(sharing) < 3 or warned is None:
        return []
    start = market_midnight(day)
    nick, uid = PRESSURE_BUYER
    found = []
    for i, spec in enumerate(sharing):
        ended = start + timedelta(hours=10, minutes=30 * i, seconds=17)
        trade = TradeSpec(
            spec.nick,
            str(3_950_000_000_000_000 + 1000 * i),
            str(3_950_000_000_000_001 + 1000 * i),
            nick,
            uid,
            "保温杯",
            "59.00",
            ended,
        )
        trade.buyer_rating = (ended + timedelta(hours=2), "bad")
        trade.buyer_words = PRESSURE_WORDS
        trade.confirm_at = ended + timedelta(hours=3)
        trade.expect = expected_outcome(spec, trade, paid_periods(spec, day))
        found.append(trade)
    paid = start + timedelta(hours=16, seconds=17)
    order = TradeSpec(
        warned.nick, "3950000000009000", "3950000000009001", nick, uid, "帆布包", "88.00", paid + timedelta(hours=4)
    )
    order.paid_at = paid
    order.expect = expected_outcome(warned, order, paid_periods(warned, day))
    return [*found, order]


# The runner ticks this often during the trading day; events closer than this to a post are ambiguous.
TICK = timedelta(minutes=5)


def _next_tick(at: datetime) -> datetime:
    step = TICK.total_seconds()
    return datetime.fromtimestamp(math.ceil(at.timestamp() / step) * step, at.tzinfo)


def _capped_post_times(spec: SellerSpec, shop: list[TradeSpec], day: datetime) -> None:
    """Where the write guard moves a capped shop's posts (immediate mode, one trade per tick).

    Each trade posts at its tick while its market hour holds fewer than ``hourly_cap`` posts; otherwise it waits
    for the next market hour with room (the guard reschedules it at the hour's start; the shop is not paused).
    """
    per_hour: Counter = Counter()
    for trade in sorted(shop, key=lambda t: t.ended_at):
        at = _next_tick(trade.ended_at)
        hour = at.astimezone(MARKET_TZ).replace(minute=0, second=0, microsecond=0)
        while per_hour[hour] >= spec.hourly_cap:
            hour += timedelta(hours=1)
            at = hour
        per_hour[hour] += 1
        if at != _next_tick(trade.ended_at):
            trade.post_at = at


def planned_post_at(spec: SellerSpec, trade: TradeSpec) -> datetime:
    """When the seller's timing policy posts the review, ignoring holds (or where the write guard moved it, or
    the seller's pause: a trade pushed while paused goes out on resume)."""
    if trade.post_at is not None:
        return trade.post_at
    if spec.pause is not None:
        paused, resumed = (market_midnight(trade.ended_at) + offset for offset in spec.pause)
        if paused <= _next_tick(trade.ended_at) < resumed:
            return resumed
    mode = spec.settings.get("mode", "immediate")
    if mode == "delay":
        return trade.ended_at + timedelta(hours=spec.settings.get("delay_hours", 0))
    if mode == "after_buyer":
        if trade.buyer_rating:
            return trade.buyer_rating[0]
        return trade.ended_at + timedelta(days=15) - timedelta(hours=spec.settings.get("fallback_margin_hours", 12))
    return trade.ended_at


RATING_WINDOW = timedelta(days=15)
_NEVER = datetime.max.replace(tzinfo=MARKET_TZ)


def _paid_from(moment: datetime, paid: list[tuple[datetime, datetime]] | None) -> datetime:
    """``moment`` inside a paid period; in an unpaid gap, the start of the next period (the renewal releases
    the held task); ``_NEVER`` when no period follows."""
    if paid is None:
        return moment
    for start, end in paid:
        if moment < start:
            return start
        if moment < end:
            return moment
    return _NEVER


def _attempt_at(spec: SellerSpec, trade: TradeSpec, planned: datetime, paid) -> datetime:
    """When the app tries to post: the planned time, moved by a refund's hold and by unpaid gaps."""
    attempt = _paid_from(planned, paid)
    created = next((at for at, what in trade.refund if what == "created"), None)
    if created is None or created >= attempt:
        return attempt
    closed = max(at for at, _ in trade.refund)
    base = planned
    rating = trade.buyer_rating
    if spec.settings.get("mode") == "after_buyer" and rating and created <= rating[0] < closed:
        # A rating that came during the hold released nothing: the release falls back to the mode's own time.
        base = trade.ended_at + RATING_WINDOW - timedelta(hours=spec.settings.get("fallback_margin_hours", 12))
    return _paid_from(max(closed, base), paid)


def expected_outcome(spec: SellerSpec, trade: TradeSpec, paid: list[tuple[datetime, datetime]] | None = None) -> str:
    """What the app must do with the trade, from the seller's settings, what happens to the trade and, given
    the shop's ``paid`` periods, when the shop pays: nothing is posted outside them."""
    filtered = _filter_reason(spec, trade)
    if filtered:  # decided when the trade arrives, before any refund or rating
        return f"skipped:{filtered}"
    planned = planned_post_at(spec, trade)
    post_at = _paid_from(planned, paid)
    refund_open_at = next((at for at, what in trade.refund if what == "created"), None)
    if refund_open_at and refund_open_at < post_at and any(what == "succeeded" for _, what in trade.refund):
        return "skipped:refunded"
    post_at = _attempt_at(spec, trade, planned, paid)
    rated_badly_first = trade.buyer_rating and trade.buyer_rating[1] != "good" and trade.buyer_rating[0] <= post_at
    if rated_badly_first and spec.settings.get("on_buyer_neutral_or_bad", "skip") == "skip":
        return "skipped:buyer_bad_rating"
    by_id = _item_id_filter(spec, trade)
    trade.skip_by_item_id = by_id is not None
    if by_id and post_at < trade.ended_at + RATING_WINDOW:  # judged when the worker reads the trade's items
        return f"skipped:{by_id}"
    if spec.settings.get("filters", {}).get("skip_dispute_buyers") and refund_open_at and refund_open_at < post_at:
        # Every refund of the world is after-sale (a dispute): once it closes, the released review is skipped.
        return "skipped:filter_dispute_buyer"
    if post_at >= trade.ended_at + RATING_WINDOW:  # held until the window closed
        return "expired:window_closed"
    if spec.dry_run:  # the guard decides at posting time, after the buyer's rating could suppress the post
        return "skipped:dry_run"
    return "posted"


def _item_id_filter(spec: SellerSpec, trade: TradeSpec) -> str | None:
    """The seller's item-id rule that skips the trade: the push names no item, so the app judges it before
    posting, once it has read the trade's items (and a refund paid before then skips it first)."""
    rules = (spec.settings.get("filters") or {}).get("skip_items") or []
    return "filter_item_skipped" if str(ITEM_IDS[trade.item_title]) in rules else None


def _filter_reason(spec: SellerSpec, trade: TradeSpec) -> str | None:
    """The seller's amount or item-title filter that skips the trade as it arrives (the message carries the
    amount and, in this world, the title; item ids are judged later, ``_item_id_filter``)."""
    filters = spec.settings.get("filters") or {}
    amount = Decimal(trade.payment)
    if filters.get("min_amount") is not None and amount < Decimal(filters["min_amount"]):
        return "filter_amount_low"
    if filters.get("max_amount") is not None and amount > Decimal(filters["max_amount"]):
        return "filter_amount_high"
    include = filters.get("include_items") or []
    if include and not any(word in trade.item_title for word in include):
        return "filter_item_not_included"
    if any(word in trade.item_title for word in filters.get("skip_items") or []):
        return "filter_item_skipped"
    return None
