"""Sandbox marketplace data: trades, ratings, refunds and service-market orders, with the platform's rating rules.

Rule violations raise ``ApiFault`` with the sub_codes defined in ``chalicelib.marketplace.errors`` so the
client and the sandbox agree on them.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from chalicelib.marketplace.errors import (
    SUB_EXPLAIN_ALREADY_EXIST,
    SUB_RATE_ALREADY_EXIST,
    SUB_RATE_WINDOW_CLOSED,
    SUB_TRADE_NOT_EXIST,
    SUB_TRADE_NOT_FINISHED,
)
from chalicelib.marketplace.models import fen_to_yuan, format_top_time
from sandbox.market.protocol import business, invalid

TRADE_FINISHED = "TRADE_FINISHED"
MAX_CONTENT = 500
MAX_MEMO_BYTES = 1000  # taobao.trade.memo.update: the memo in UTF-8 bytes


def _yuan(payment: object) -> str:
    """Trade amounts are yuan strings on the wire; ints are taken as fen."""
    if isinstance(payment, int):
        return fen_to_yuan(payment)
    return f"{Decimal(str(payment)):.2f}"


@dataclass(frozen=True)
class RawItem:
    """An item served exactly as it is (a malformed or hostile one): no projection, no checks."""

    item: object


@dataclass
class Trade:
    tid: int
    seller_nick: str
    oids: list[int]
    buyer_nick: str
    buyer_open_uid: str
    payment: str
    item_title: str
    created: datetime
    end_time: datetime | None
    modified: datetime
    status: str
    num_iid: int

    def as_api(self, *, seller_rate: bool = False, buyer_rate: bool = False) -> dict:
        return {
            "tid": self.tid,
            "status": self.status,
            "seller_rate": seller_rate,
            "buyer_rate": buyer_rate,
            "title": self.item_title,
            "buyer_nick": self.buyer_nick,
            "buyer_open_uid": self.buyer_open_uid,
            "seller_nick": self.seller_nick,
            "payment": self.payment,
            "created": format_top_time(self.created),
            "end_time": format_top_time(self.end_time) if self.end_time else None,
            "modified": format_top_time(self.modified),
            "num_iid": self.num_iid,
            "orders": {
                "order": [
                    {"oid": oid, "title": self.item_title, "status": self.status, "num_iid": self.num_iid}
                    for oid in self.oids
                ]
            },
        }


@dataclass
class Rate:
    tid: int
    oid: int
    role: str
    result: str
    content: str
    created: datetime
    nick: str
    rated_nick: str
    item_title: str
    item_price: str
    num_iid: int
    anony: bool = False
    reply: str = ""

    def as_api(self) -> dict:
        return {
            "tid": self.tid,
            "oid": self.oid,
            "role": self.role,
            "result": self.result,
            "content": self.content,
            "created": format_top_time(self.created),
            "nick": self.nick,
            "rated_nick": self.rated_nick,
            "item_title": self.item_title,
            "item_price": self.item_price,
            "num_iid": self.num_iid,
            "reply": self.reply,
            "valid_score": True,
        }


# Refund statuses of ``taobao.refunds.receive.get``.
REFUND_OPEN = "WAIT_SELLER_AGREE"
REFUND_STATUSES = (
    "WAIT_SELLER_AGREE",
    "WAIT_BUYER_RETURN_GOODS",
    "WAIT_SELLER_CONFIRM_GOODS",
    "SELLER_REFUSE_BUYER",
    "CLOSED",
    "SUCCESS",
)


REFUND_ID_BASE = 50_000_000_000_000  # refund ids are Longs on the platform (Java ``Refund.refundId``)


def refund_id_for(tid: int) -> int:
    """The id the sandbox gives a trade's refund when none is named (a Long, as the platform's)."""
    return REFUND_ID_BASE + tid


@dataclass
class Refund:
    refund_id: int
    tid: int
    oid: int
    seller_nick: str
    buyer_nick: str
    title: str
    status: str
    created: datetime
    modified: datetime
    refund_fee: str
    refund_phase: str

    def as_api(self) -> dict:
        return {
            "refund_id": self.refund_id,
            "tid": self.tid,
            "oid": self.oid,
            "seller_nick": self.seller_nick,
            "buyer_nick": self.buyer_nick,
            "title": self.title,
            "status": self.status,
            "created": format_top_time(self.created),
            "modified": format_top_time(self.modified),
            "refund_fee": self.refund_fee,
            "refund_phase": self.refund_phase,
        }


@dataclass
class Order:
    order_id: int
    biz_order_id: int
    nick: str
    article_code: str
    item_code: str
    item_name: str
    biz_type: int
    order_cycle: str
    order_cycle_start: datetime
    order_cycle_end: datetime
    create: datetime
    fee: int
    prom_fee: int
    total_pay_fee: int
    refund_fee: int = 0
    extra: dict = field(default_factory=dict)

    def as_api(self) -> dict:
        return {
            "order_id": self.order_id,
            "biz_order_id": self.biz_order_id,
            "nick": self.nick,
            "article_code": self.article_code,
            "article_name": "",
            "item_code": self.item_code,
            "article_item_name": self.item_name,
            "biz_type": self.biz_type,
            "order_cycle": self.order_cycle,
            "order_cycle_start": format_top_time(self.order_cycle_start),
            "order_cycle_end": format_top_time(self.order_cycle_end),
            "create": format_top_time(self.create),
            # Fees are strings in fen on the platform (``ArticleBizOrder.fee`` is a String in every SDK).
            "fee": str(self.fee),
            "prom_fee": str(self.prom_fee),
            "total_pay_fee": str(self.total_pay_fee),
            "refund_fee": str(self.refund_fee),
            **self.extra,
        }


def _cycle_unit(start: datetime, end: datetime) -> str:
    # order_cycle: 1 year, 2 month, 3 day (TOP-NOTES), chosen from the length of the period.
    days = (end - start).days
    if days >= 360:
        return "1"
    return "2" if days >= 28 else "3"


class MarketState:
    """Thread-safe marketplace data with the rating and reply windows measured on the injected clock."""

    def __init__(
        self,
        clock: Callable[[], datetime],
        *,
        article_code: str,
        rating_window_days: int,
        explain_window_days: int,
    ) -> None:
        self._clock = clock
        self.article_code = article_code
        self._rating_window = timedelta(days=rating_window_days)
        self._explain_window = timedelta(days=explain_window_days)
        self._lock = threading.RLock()
        self._trades: dict[int, Trade] = {}
        self._rates: list[Rate] = []
        self._orders: dict[int, Order] = {}
        self._refunds: dict[int, Refund] = {}
        self._accepted: Counter[int] = Counter()
        self._memos: dict[int, tuple[str, int]] = {}  # tid -> the seller's memo and flag
        self._next_order = 1
        self._raw_trades: list[tuple[str, datetime, object]] = []

    # -- world side -------------------------------------------------------------------------------

    def add_trade(
        self,
        seller_nick: str,
        *,
        tid: int,
        oid: int | Iterable[int],
        buyer_nick: str,
        buyer_open_uid: str,
        payment: object,
        item_title: str,
        created: datetime,
        end_time: datetime | None,
        status: str = TRADE_FINISHED,
        num_iid: int | None = None,
        modified: datetime | None = None,
    ) -> dict:
        """Record a trade; ``payment`` as a yuan string or int fen; returns its API form."""
        oids = [oid] if isinstance(oid, int) else list(oid)
        trade = Trade(
            tid=tid,
            seller_nick=seller_nick,
            oids=oids,
            buyer_nick=buyer_nick,
            buyer_open_uid=buyer_open_uid,
            payment=_yuan(payment),
            item_title=item_title,
            created=created,
            end_time=end_time,
            modified=modified or end_time or created,
            status=status,
            num_iid=num_iid if num_iid is not None else 600_000_000_000 + tid % 1_000_000,
        )
        with self._lock:
            if tid in self._trades:
                raise ValueError(f"trade {tid} already exists")
            self._trades[tid] = trade
            return self._trade_api(trade)

    def add_raw_trade(self, seller_nick: str, modified: datetime, item: object) -> None:
        """A malformed or hostile trade, listed as is (unprojected) among the seller's trades modified at
        ``modified``: what a broken or hostile marketplace could answer."""
        with self._lock:
            self._raw_trades.append((seller_nick, modified, item))

    def set_trade_status(self, tid: int, status: str, end_time: datetime | None = None) -> dict:
        """Change a trade's status (modified = now); finishing a trade stamps its end time."""
        with self._lock:
            trade = self._trades[tid]
            now = self._clock()
            trade.status = status
            trade.modified = now
            if end_time is not None:
                trade.end_time = end_time
            elif status == TRADE_FINISHED and trade.end_time is None:
                trade.end_time = now
            return self._trade_api(trade)

    def add_buyer_rate(self, tid: int, result: str, content: str = "", oid: int | None = None) -> dict:
        """The buyer rates the seller for one sub-order (the first when ``oid`` is omitted)."""
        with self._lock:
            trade = self._trades[tid]
            rate = Rate(
                tid=tid,
                oid=oid if oid is not None else trade.oids[0],
                role="buyer",
                result=result,
                content=content,
                created=self._clock(),
                nick=trade.buyer_nick,
                rated_nick=trade.seller_nick,
                item_title=trade.item_title,
                item_price=trade.payment,
                num_iid=trade.num_iid,
            )
            self._rates.append(rate)
            return rate.as_api()

    def refund(
        self,
        tid: int,
        status: str,
        *,
        refund_id: int | None = None,
        oid: int | None = None,
        refund_fee: object = None,
        refund_phase: str = "aftersale",
    ) -> dict:
        """The buyer asks for a refund, or an existing refund (``refund_id``, a Long; by default
        ``refund_id_for(tid)``) moves to ``status``; ``modified`` is now. Returns its API form."""
        if status not in REFUND_STATUSES:
            raise ValueError(f"unknown refund status {status}")
        with self._lock:
            trade = self._trades[tid]
            key = refund_id or refund_id_for(tid)
            now = self._clock()
            found = self._refunds.get(key)
            if found is None:
                found = Refund(
                    refund_id=key,
                    tid=tid,
                    oid=oid if oid is not None else trade.oids[0],
                    seller_nick=trade.seller_nick,
                    buyer_nick=trade.buyer_nick,
                    title=trade.item_title,
                    status=status,
                    created=now,
                    modified=now,
                    refund_fee=_yuan(refund_fee) if refund_fee is not None else trade.payment,
                    refund_phase=refund_phase,
                )
                self._refunds[key] = found
            found.status = status
            found.modified = now
            return found.as_api()

    def refunds_modified(
        self, seller_nick: str, start: datetime | None, end: datetime | None, status: str | None
    ) -> list[dict]:
        """The refunds the seller received, modified in [start, end], oldest modification first."""
        with self._lock:
            found = [
                r
                for r in self._refunds.values()
                if r.seller_nick == seller_nick
                and (start is None or r.modified >= start)
                and (end is None or r.modified <= end)
                and (status is None or r.status == status)
            ]
            found.sort(key=lambda r: (r.modified, r.refund_id))
            return [r.as_api() for r in found]

    def rates_given(self, seller_nick: str | None = None) -> list[dict]:
        """Ratings given by sellers (one seller when ``seller_nick`` is set), oldest first."""
        with self._lock:
            return [
                r.as_api() for r in self._rates if r.role == "seller" and (seller_nick is None or r.nick == seller_nick)
            ]

    def post_counts(self, tid: int) -> int:
        """How many ``taobao.traderate.add`` calls were accepted for ``tid``."""
        with self._lock:
            return self._accepted[tid]

    def add_order(
        self,
        *,
        nick: str,
        item_code: str,
        biz_type: int,
        order_cycle_start: datetime,
        order_cycle_end: datetime,
        total_pay_fee: int,
        create: datetime | None = None,
        order_id: int | None = None,
        biz_order_id: int | None = None,
        article_code: str | None = None,
        item_name: str = "",
        order_cycle: str | None = None,
        fee: int | None = None,
        prom_fee: int = 0,
        refund_fee: int = 0,
        **extra: object,
    ) -> dict:
        """Record a service-market order (fees in fen); returns its API form, as in billing messages."""
        with self._lock:
            number = self._next_order
            self._next_order += 1
            order = Order(
                order_id=order_id or 7_000_000_000 + number,
                biz_order_id=biz_order_id or 8_000_000_000 + number,
                nick=nick,
                article_code=article_code or self.article_code,
                item_code=item_code,
                item_name=item_name,
                biz_type=biz_type,
                order_cycle=order_cycle or _cycle_unit(order_cycle_start, order_cycle_end),
                order_cycle_start=order_cycle_start,
                order_cycle_end=order_cycle_end,
                create=create or self._clock(),
                fee=total_pay_fee + prom_fee if fee is None else fee,
                prom_fee=prom_fee,
                total_pay_fee=total_pay_fee,
                refund_fee=refund_fee,
                extra=dict(extra),
            )
            if order.order_id in self._orders:
                raise ValueError(f"order {order.order_id} already exists")
            self._orders[order.order_id] = order
            return order.as_api()

    def refund_order(self, order_id: int, refund_fee: int) -> dict:
        """Refund (part of) an order; a full refund ends the subscription it paid for."""
        with self._lock:
            order = self._orders[order_id]
            order.refund_fee = refund_fee
            return order.as_api()

    # -- API side ---------------------------------------------------------------------------------

    def _seller_trade(self, seller_nick: str, tid: int) -> Trade:
        trade = self._trades.get(tid)
        if trade is None or trade.seller_nick != seller_nick:
            raise business(SUB_TRADE_NOT_EXIST, "trade does not exist")
        return trade

    def seller_trade_api(self, seller_nick: str, tid: int) -> dict:
        """The seller's own trade as the trade APIs answer it (refused as absent for another seller's)."""
        with self._lock:
            return self._trade_api(self._seller_trade(seller_nick, tid))

    def rate(self, seller_nick: str, tid: int, oid: int | None, result: str, content: str, anony: bool) -> Rate:
        """The seller rates a trade, or one sub-order of it, under the platform's rules."""
        if len(content) > MAX_CONTENT:
            raise invalid("content", f"at most {MAX_CONTENT} characters")
        if result != "good" and not content:
            raise invalid("content", "required for neutral and bad ratings")
        with self._lock:
            trade = self._seller_trade(seller_nick, tid)
            if oid is not None and oid not in trade.oids:
                raise business(SUB_TRADE_NOT_EXIST, "sub-order does not exist")
            if trade.status != TRADE_FINISHED:
                raise business(SUB_TRADE_NOT_FINISHED, "trade is not finished")
            rated = {r.oid for r in self._rates if r.tid == tid and r.role == "seller"}
            targets = [oid] if oid is not None else trade.oids
            if rated.intersection(targets):
                raise business(SUB_RATE_ALREADY_EXIST, "already rated")
            now = self._clock()
            if trade.end_time is None or now > trade.end_time + self._rating_window:
                raise business(SUB_RATE_WINDOW_CLOSED, "rating period has ended")
            rates = [
                Rate(
                    tid=tid,
                    oid=target,
                    role="seller",
                    result=result,
                    content=content,
                    created=now,
                    nick=seller_nick,
                    rated_nick=trade.buyer_nick,
                    item_title=trade.item_title,
                    item_price=trade.payment,
                    num_iid=trade.num_iid,
                    anony=anony,
                )
                for target in targets
            ]
            self._rates.extend(rates)
            self._accepted[tid] += 1
            return rates[0]

    def update_memo(self, seller_nick: str, tid: int, memo: str | None, flag: int | None, reset: bool) -> dict:
        """``taobao.trade.memo.update``: the seller's memo of its own trade (at most ``MAX_MEMO_BYTES`` UTF-8
        bytes) and its flag (0-5); ``reset`` clears the memo. Answers ``{tid, modified}``."""
        if memo is not None and len(memo.encode("utf-8")) > MAX_MEMO_BYTES:
            raise invalid("memo", f"at most {MAX_MEMO_BYTES} bytes")
        if flag is not None and not 0 <= flag <= 5:
            raise invalid("flag", "0 to 5")
        with self._lock:
            trade = self._seller_trade(seller_nick, tid)
            old_memo, old_flag = self._memos.get(tid, ("", 0))
            new_memo = "" if reset else (old_memo if memo is None else memo)
            self._memos[tid] = (new_memo, old_flag if flag is None else flag)
            trade.modified = self._clock()
            return {"tid": tid, "modified": format_top_time(trade.modified)}

    def memo_of(self, tid: int) -> tuple[str, int] | None:
        """The seller's memo and flag of a trade, if one was written."""
        with self._lock:
            return self._memos.get(tid)

    def explain(self, seller_nick: str, oid: int, reply: str) -> None:
        """The seller replies to the buyer's rating of ``oid``, once, within the reply window."""
        if len(reply) > MAX_CONTENT:
            raise invalid("reply", f"at most {MAX_CONTENT} characters")
        with self._lock:
            rate = next(
                (r for r in self._rates if r.oid == oid and r.role == "buyer" and r.rated_nick == seller_nick),
                None,
            )
            if rate is None:
                raise business(SUB_TRADE_NOT_EXIST, "no buyer rating for this sub-order")
            if rate.reply:
                raise business(SUB_EXPLAIN_ALREADY_EXIST, "already explained")
            if self._clock() > rate.created + self._explain_window:
                raise business(SUB_RATE_WINDOW_CLOSED, "explanation period has ended")
            rate.reply = reply

    def rates_for(
        self,
        nick: str,
        *,
        rate_type: str,
        role: str,
        result: str | None,
        start: datetime | None,
        end: datetime | None,
        tid: int | None,
    ) -> list[dict]:
        """Ratings given (``give``) or received (``get``) by ``nick`` where the rater is ``role``, newest first."""
        with self._lock:
            party = (lambda r: r.nick) if rate_type == "give" else (lambda r: r.rated_nick)
            rates = [
                r
                for r in self._rates
                if party(r) == nick
                and r.role == role
                and (result is None or r.result == result)
                and (start is None or r.created >= start)
                and (end is None or r.created <= end)
                and (tid is None or r.tid == tid)
            ]
            rates.sort(key=lambda r: (r.created, r.tid, r.oid), reverse=True)
            return [r.as_api() for r in rates]

    def trades_modified(
        self, seller_nick: str, start: datetime, end: datetime, status: str | None
    ) -> list[dict | RawItem]:
        """The seller's trades modified in [start, end], newest modification first, as the platform lists them:
        a trade modified while a reader pages leaves the window and moves the trades behind it a place forward."""
        with self._lock:
            trades = [
                t
                for t in self._trades.values()
                if t.seller_nick == seller_nick
                and start <= t.modified <= end
                and (status is None or t.status == status)
            ]
            trades.sort(key=lambda t: (t.modified, t.tid), reverse=True)
            listed = [(t.modified, self._trade_api(t)) for t in trades]
            raw = [
                (at, RawItem(item)) for nick, at, item in self._raw_trades if nick == seller_nick and start <= at <= end
            ]
            if raw:
                listed = sorted(listed + raw, key=lambda pair: pair[0], reverse=True)
            return [item for _, item in listed]

    def _trade_api(self, trade: Trade) -> dict:
        roles = {r.role for r in self._rates if r.tid == trade.tid}
        return trade.as_api(seller_rate="seller" in roles, buyer_rate="buyer" in roles)

    def subscriptions(self, article_code: str, nick: str) -> list[dict]:
        """Latest deadline per item code over the seller's orders not fully refunded."""
        with self._lock:
            deadlines: dict[str, datetime] = {}
            for order in self._orders.values():
                if order.nick != nick or order.article_code != article_code:
                    continue
                if order.total_pay_fee > 0 and order.refund_fee >= order.total_pay_fee:
                    continue
                current = deadlines.get(order.item_code)
                if current is None or order.order_cycle_end > current:
                    deadlines[order.item_code] = order.order_cycle_end
            return [
                {"item_code": code, "deadline": format_top_time(deadline)}
                for code, deadline in sorted(deadlines.items())
            ]

    def orders_created(
        self, article_code: str, start: datetime | None, end: datetime | None, nick: str | None
    ) -> list[dict]:
        """Orders of the app created in [start, end], oldest first."""
        with self._lock:
            orders = [
                o
                for o in self._orders.values()
                if o.article_code == article_code
                and (nick is None or o.nick == nick)
                and (start is None or o.create >= start)
                and (end is None or o.create <= end)
            ]
            orders.sort(key=lambda o: (o.create, o.order_id))
            return [o.as_api() for o in orders]
