"""Typed results of the marketplace APIs, and the marketplace's time and money formats.

The marketplace speaks "YYYY-MM-DD HH:MM:SS" strings in GMT+8 and yuan strings for trade amounts;
everything here is converted to timezone-aware UTC datetimes and integer fen at the edge.
Fields holding buyer identities are left out of ``repr`` so a logged object leaks nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import unquote

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from chalicelib.domain.market_time import format_market_time, parse_market_value

# TOP's times are market times (GMT+8), parsed and formatted in one place: ``domain.market_time``.
format_top_time = format_market_time


def parse_top_time(value: object) -> datetime | None:
    """Parse a TOP time (GMT+8 string, or epoch milliseconds) into an aware UTC datetime; empty → None.

    Raises ``ValueError`` (never quoting the input) for anything else, including numbers that are not finite
    or times outside [2000, 2100).
    """
    return parse_market_value(value)


def yuan_to_fen(value: object) -> int:
    """Convert a yuan amount ("12.50", 12.5) to integer fen, rejecting anything finer than a fen."""
    try:
        amount = Decimal(str(value)) * 100
    except InvalidOperation as exc:
        raise ValueError("not an amount") from exc
    if not amount.is_finite() or amount != amount.to_integral_value():
        raise ValueError("not an amount in whole fen")
    return int(amount)


def fen_to_yuan(fen: int) -> str:
    """Render integer fen as the marketplace's yuan string ("12.50")."""
    return f"{Decimal(fen) / 100:.2f}"


def _long(value: object) -> int:
    """A platform id (a Long): a JSON integer or a string of ASCII digits. Anything else — a float, a bool, digits
    of another script ("²³", "١٢٣"), a huge string — is refused, so an odd id never becomes another one."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20:
        number = int(value)
    else:
        raise ValueError("not an id")
    if not 0 <= number < 2**63:
        raise ValueError("not an id")
    return number


def _opt_int(value: object) -> int | None:
    return None if value is None or value == "" else _long(value)


def _str(value: object) -> str:
    return "" if value is None else str(value)


def top_items(container: object, key: str) -> list[Mapping[str, Any]]:
    """Items of a TOP list, whichever shape it takes: {key: [..]}, {key: {..}} (one item) or a bare list."""
    if container is None:
        return []
    if isinstance(container, Mapping):
        container = container.get(key, [])
    if isinstance(container, Mapping):
        return [container]
    if not isinstance(container, list):
        raise ValueError(f"not a list of {key}")
    return container


@dataclass(frozen=True, slots=True)
class TradeMemoUpdated:
    """Acknowledgement of ``taobao.trade.memo.update``: ``trade {tid, modified}``."""

    tid: int
    modified: datetime | None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> TradeMemoUpdated:
        return cls(int(data["tid"]), parse_top_time(data.get("modified")))


@dataclass(frozen=True, slots=True)
class TradeRateAdded:
    """Acknowledgement of ``taobao.traderate.add``."""

    tid: int
    oid: int | None
    created: datetime | None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> TradeRateAdded:
        return cls(int(data["tid"]), _opt_int(data.get("oid")), parse_top_time(data.get("created")))


@dataclass(frozen=True, slots=True)
class TradeRate:
    """One rating from ``taobao.traderates.get``; ``nick`` is the rater, ``rated_nick`` the rated party."""

    tid: int
    oid: int | None
    role: str
    result: str
    created: datetime | None
    content: str
    reply: str
    item_title: str
    item_price: str
    num_iid: int | None
    valid_score: bool | None
    nick: str = field(repr=False)
    rated_nick: str = field(repr=False)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> TradeRate:
        valid = data.get("valid_score")
        return cls(
            tid=_long(data["tid"]),
            oid=_opt_int(data.get("oid")),
            role=_str(data.get("role")),
            result=_str(data.get("result")),
            created=parse_top_time(data.get("created")),
            content=_str(data.get("content")),
            reply=_str(data.get("reply")),
            item_title=_str(data.get("item_title")),
            item_price=_str(data.get("item_price")),
            num_iid=_opt_int(data.get("num_iid")),
            valid_score=None if valid is None else bool(valid),
            nick=_str(data.get("nick")),
            rated_nick=_str(data.get("rated_nick")),
        )


@dataclass(frozen=True, slots=True)
class Trade:
    """A sold trade from ``taobao.trades.sold.increment.get``; ``payment`` in fen."""

    tid: int
    oids: tuple[int, ...]
    status: str
    end_time: datetime | None
    modified: datetime | None
    payment: int
    item_title: str
    buyer_nick: str = field(repr=False)
    buyer_open_uid: str = field(repr=False)
    seller_rate: bool = False  # the seller already rated the buyer
    buyer_rate: bool = False  # the buyer already rated the seller
    item_ids: tuple[int, ...] = ()  # the sub-orders' items (``orders.num_iid``), each once, in order

    @property
    def oid(self) -> int | None:
        """The first sub-order id, which for a one-item trade is the only one."""
        return self.oids[0] if self.oids else None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Trade:
        orders = top_items(data.get("orders"), "order")
        return cls(
            tid=_long(data["tid"]),
            oids=tuple(_long(order["oid"]) for order in orders),
            status=_str(data.get("status")),
            end_time=parse_top_time(data.get("end_time")),
            modified=parse_top_time(data.get("modified")),
            payment=yuan_to_fen(data.get("payment") or 0),
            item_title=order_titles(orders) or _str(data.get("title")),
            buyer_nick=_str(data.get("buyer_nick")),
            buyer_open_uid=_str(data.get("buyer_open_uid")),
            seller_rate=_flag(data.get("seller_rate")),
            buyer_rate=_flag(data.get("buyer_rate")),
            item_ids=order_item_ids(orders),
        )


@dataclass(frozen=True, slots=True)
class TradeItems:
    """The items of one trade (``taobao.trade.fullinfo.get`` with ``orders.num_iid,orders.title``)."""

    item_ids: tuple[int, ...]
    item_title: str

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> TradeItems:
        orders = top_items(data.get("orders"), "order")
        return cls(item_ids=order_item_ids(orders), item_title=order_titles(orders))


# Sub-order titles are the items' names (a trade's own ``title`` is not always one), joined for a trade of several.
TITLE_JOIN = " / "


def order_item_ids(orders: list[Mapping[str, Any]]) -> tuple[int, ...]:
    """The distinct ``num_iid`` of the sub-orders, in order (sub-orders without one are left out)."""
    ids = (_opt_int(order.get("num_iid")) for order in orders)
    return tuple(dict.fromkeys(i for i in ids if i is not None))


def order_titles(orders: list[Mapping[str, Any]]) -> str:
    """The distinct sub-order titles, joined; empty when no sub-order has one."""
    titles = (_str(order.get("title")).strip() for order in orders)
    return TITLE_JOIN.join(dict.fromkeys(t for t in titles if t))


def _flag(value: object) -> bool:
    # JSON answers carry booleans; XML-derived or older answers carry "true"/"false".
    return value is True or str(value).lower() == "true"


# ``taobao.refunds.receive.get`` statuses: every one but these two means the refund is still open (the seller may
# have refused it, but the buyer can still escalate).
REFUND_CLOSED = "CLOSED"
REFUND_SUCCESS = "SUCCESS"


@dataclass(frozen=True, slots=True)
class Refund:
    """A refund the seller received (``taobao.refunds.receive.get``); ``refund_fee`` in fen."""

    refund_id: str
    tid: int
    oid: int | None
    status: str
    modified: datetime | None
    refund_fee: int
    refund_phase: str

    @property
    def lifecycle(self) -> str:
        """Where the refund stands for a review: ``succeeded``, ``closed`` or ``created`` (still open)."""
        if self.status == REFUND_SUCCESS:
            return "succeeded"
        return "closed" if self.status == REFUND_CLOSED else "created"

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Refund:
        return cls(
            refund_id=str(_long(data["refund_id"])),
            tid=_long(data["tid"]),
            oid=_opt_int(data.get("oid")),
            status=_str(data.get("status")),
            modified=parse_top_time(data.get("modified")),
            refund_fee=yuan_to_fen(data.get("refund_fee") or 0),
            refund_phase=_str(data.get("refund_phase")),
        )


@dataclass(frozen=True, slots=True)
class Subscription:
    """A seller's subscription to one item (plan) of the app, from ``taobao.vas.subscribe.get``."""

    item_code: str
    deadline: datetime | None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Subscription:
        return cls(_str(data["item_code"]), parse_top_time(data.get("deadline")))


class OrderFields(BaseModel):
    """The fields of a service-market billing order as the market names them, in ``taobao.vas.order.search``
    results and in its order messages alike: declared here once. ``VasOrder`` reads them leniently from a search,
    ``billing_topics.OrderContent`` judges them by the app's rules, and the app's ``BillingOrder`` is made from
    the judged ones by name. Ids are Longs, fees integer fen, times aware UTC."""

    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    order_id: int
    biz_order_id: int | None = None
    nick: str
    article_code: str = ""
    item_code: str
    biz_type: int
    order_cycle: str | None = None
    order_cycle_start: datetime | None = None
    order_cycle_end: datetime | None = None
    create: datetime | None = None
    total_pay_fee: int = 0
    refund_fee: int = 0


def _opt_id(value: object) -> int | None:
    return int(value) if value not in (None, "", 0, "0") else None


# How a search result's field is read, by its declared type: absent numbers are 0, absent text is "".
_LENIENT: dict[object, Callable[[Any], object]] = {
    int: lambda value: int(value or 0),
    int | None: _opt_id,
    str: _str,
    str | None: _str,
    datetime | None: parse_top_time,
}


class VasOrder(OrderFields):
    """A service-market billing order as ``taobao.vas.order.search`` answers it: the order's fields, read as the
    search typed them (judged later, by ``billing_topics.OrderContent``), and what only the search reports."""

    # The plan's display name; the platform names it so, not ``item_name`` (an older port of the SDK lists
    # ``item_name`` as well; the current answer has only this one).
    article_item_name: str = Field("", validation_alias=AliasChoices("article_item_name", "item_name"))
    fee: int = 0
    prom_fee: int = 0

    @field_validator("*", mode="before")
    @classmethod
    def _read(cls, value: object, info: ValidationInfo) -> object:
        return _LENIENT[cls.model_fields[info.field_name].annotation](value)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> VasOrder:
        """Read one search result; a missing required field or an unreadable value raises ``ValueError``."""
        return cls.model_validate(data)


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """An OAuth token response; ``issued_at`` is our clock at receipt. Tokens stay out of ``repr``."""

    access_token: str = field(repr=False)
    token_type: str
    expires_in: int
    refresh_token: str = field(repr=False)
    re_expires_in: int
    taobao_user_id: str
    taobao_user_nick: str
    issued_at: datetime

    @property
    def expires_at(self) -> datetime:
        return self.issued_at + timedelta(seconds=self.expires_in)

    @property
    def refreshable(self) -> bool:
        """False when the platform says the token cannot be refreshed (``re_expires_in == 0``)."""
        return self.re_expires_in > 0 and bool(self.refresh_token)

    @property
    def refresh_expires_at(self) -> datetime | None:
        return self.issued_at + timedelta(seconds=self.re_expires_in) if self.refreshable else None

    @classmethod
    def from_token_response(cls, data: Mapping[str, Any], issued_at: datetime) -> TokenGrant:
        """A grant from the token response's fields (the nick arrives URL-encoded)."""
        return cls(
            access_token=str(data["access_token"]),
            token_type=str(data.get("token_type") or "Bearer"),
            expires_in=int(data["expires_in"]),
            refresh_token=str(data.get("refresh_token") or ""),
            re_expires_in=int(data.get("re_expires_in") or 0),
            taobao_user_id=str(data["taobao_user_id"]),
            taobao_user_nick=unquote(str(data["taobao_user_nick"])),
            issued_at=issued_at,
        )


def grant_from_token_result(token_result: object, issued_at: datetime) -> TokenGrant:
    """The grant inside a ``token_result`` (a JSON string, as ``taobao.top.auth.token.refresh`` answers it; a
    decoded object is accepted too), with the same fields as the OAuth token response."""
    data = json.loads(token_result) if isinstance(token_result, str | bytes) else token_result
    if not isinstance(data, Mapping):
        raise ValueError("token_result holds no grant")
    return TokenGrant.from_token_response(data, issued_at)
