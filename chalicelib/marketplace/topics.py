"""Typed contents of the TMC topics haoping consumes (the ``content`` JSON string of each message)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from chalicelib.domain import order_filters
from chalicelib.domain.market_time import format_market_time
from chalicelib.marketplace.models import Trade, fen_to_yuan, format_top_time, parse_top_time

TRADE_SUCCESS = "taobao_trade_TradeSuccess"
TRADE_RATED = "taobao_trade_TradeRated"
TRADE_BUYER_PAY = "taobao_trade_TradeBuyerPay"
REFUND_CREATED = "taobao_refund_RefundCreated"
REFUND_CLOSED = "taobao_refund_RefundClosed"
REFUND_SUCCESS = "taobao_refund_RefundSuccess"
ORDER_PAID = "taobao_fuwu_OrderPaid"
ORDER_CLOSED = "taobao_fuwu_OrderClosed"
ITEM_IDS_MAX = 50 * 21  # comma-separated ids of a trade's items (at most 50 of 20 digits)


class _Content(BaseModel):
    # The platform adds fields over time; unknown ones are ignored, missing required ones rejected.
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True, defer_build=True)

    tid: str = Field(min_length=1, max_length=32, pattern=r"^[0-9]+$")  # ASCII only: ``\d`` takes any script's
    oid: str | None = Field(default=None, max_length=32)
    seller_nick: str | None = Field(default=None, max_length=64)
    buyer_nick: str | None = Field(default=None, max_length=64)
    buyer_open_uid: str | None = Field(default=None, max_length=128)

    @field_validator("oid")
    @classmethod
    def _digits(cls, value: str | None) -> str | None:
        # ASCII digits only: "²³" passes ``str.isdigit`` and then fails ``int``.
        if value is not None and not (value.isascii() and value.isdigit()):
            raise ValueError("oid must be digits")
        return value


TITLE_MAX = 120  # the TradeSuccess topic's limit; titles are display text, so a longer one read back is cut


class TradeSuccess(_Content):
    """A trade finished successfully: the buyer confirmed receipt.

    ``end_time`` is kept as the market's ``YYYY-MM-DD HH:MM:SS`` (GMT+8) text; epoch milliseconds are accepted
    and rewritten so. A value that is no market time, or lies outside [2000, 2100), is a validation error: the
    message can never succeed, so it is rejected rather than retried.
    """

    payment: str | None = Field(default=None, max_length=32)
    status: str | None = Field(default=None, max_length=64)
    item_title: str | None = Field(default=None, max_length=TITLE_MAX)
    end_time: str | None = None
    # The items' ids, comma-separated, when the message or the trade read back names them (the order filters
    # match them). A pushed TradeSuccess carries none; reconcile and backfill fill them from the trade's orders.
    num_iid: str | None = Field(default=None, max_length=ITEM_IDS_MAX, pattern=r"^\d{1,20}(,\d{1,20})*$")

    @field_validator("end_time", mode="before")
    @classmethod
    def _market_time(cls, value: object) -> str | None:
        parsed = parse_top_time(value)  # raises ValueError without quoting the value
        return None if parsed is None else format_top_time(parsed)


class TradeRated(_Content):
    """A rating was given on the trade (by the buyer, the seller, or unknown)."""

    rater: str = Field(default="buyer", max_length=16)
    result: str = Field(pattern=r"^(good|neutral|bad)$")


class RefundEvent(_Content):
    """A refund was created, closed (cancelled) or succeeded."""

    refund_id: str | None = Field(default=None, max_length=64)
    refund_fee: str | None = Field(default=None, max_length=32)
    refund_phase: str | None = Field(default=None, max_length=32)


class TradeBuyerPay(_Content):
    """The buyer paid for a trade (``taobao_trade_TradeBuyerPay``: ``tid, oid, buyer_nick, seller_nick, payment,
    modified, status``, and ``buyer_open_uid`` where the platform sends it)."""

    payment: str | None = Field(default=None, max_length=32)
    status: str | None = Field(default=None, max_length=64)


def trade_success_of(trade: Trade) -> TradeSuccess:
    """The TradeSuccess message the marketplace would have pushed for ``trade`` (raises ``ValidationError``)."""
    return TradeSuccess(
        tid=str(trade.tid),
        oid=None if trade.oid is None else str(trade.oid),
        buyer_nick=trade.buyer_nick or None,
        buyer_open_uid=trade.buyer_open_uid or None,
        payment=fen_to_yuan(trade.payment),
        status=trade.status,
        item_title=trade.item_title[:TITLE_MAX] or None,
        num_iid=order_filters.item_ids_text(trade.item_ids),
        end_time=format_market_time(trade.end_time) if trade.end_time else None,
    )
