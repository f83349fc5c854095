"""Typed contents of the TMC topics haoping consumes (the ``content`` JSON string of each message)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

TRADE_SUCCESS = "taobao_trade_TradeSuccess"
TRADE_RATED = "taobao_trade_TradeRated"
REFUND_CREATED = "taobao_refund_RefundCreated"
REFUND_CLOSED = "taobao_refund_RefundClosed"
REFUND_SUCCESS = "taobao_refund_RefundSuccess"
ORDER_PAID = "taobao_fuwu_OrderPaid"
ORDER_CLOSED = "taobao_fuwu_OrderClosed"


class _Content(BaseModel):
    # The platform adds fields over time; unknown ones are ignored, missing required ones rejected.
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)

    tid: str = Field(min_length=1, max_length=32, pattern=r"^\d+$")
    oid: str | None = Field(default=None, max_length=32)
    seller_nick: str | None = Field(default=None, max_length=64)
    buyer_nick: str | None = Field(default=None, max_length=64)
    buyer_open_uid: str | None = Field(default=None, max_length=128)

    @field_validator("oid")
    @classmethod
    def _digits(cls, value: str | None) -> str | None:
        if value is not None and not value.isdigit():
            raise ValueError("oid must be digits")
        return value


class TradeSuccess(_Content):
    """A trade finished successfully: the buyer confirmed receipt."""

    payment: str | None = None
    status: str | None = None
    item_title: str | None = Field(default=None, max_length=120)
    end_time: str | None = None


class TradeRated(_Content):
    """A rating was given on the trade (by the buyer, the seller, or unknown)."""

    rater: str = "buyer"
    result: str = Field(pattern=r"^(good|neutral|bad)$")


class RefundEvent(_Content):
    """A refund was created, closed (cancelled) or succeeded."""

    refund_id: str | None = None
    refund_fee: str | None = None
    refund_phase: str | None = None
