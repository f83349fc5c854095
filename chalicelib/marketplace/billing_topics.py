"""Typed content of the service market's order messages (``taobao_fuwu_OrderPaid`` / ``taobao_fuwu_OrderClosed``).

The content carries the fields of ``taobao.vas.order.search``; orders found by that API during reconciliation
go through the same model, so a pushed order and a searched one are judged by one set of rules. Fees are
integer fen; times are GMT+8 strings or epoch milliseconds, turned into aware UTC datetimes. Error reasons
name the field and the rule, never the value.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import ConfigDict, ValidationError, ValidationInfo, field_serializer, field_validator, model_validator

from chalicelib.domain.entitlement import BillingOrder
from chalicelib.marketplace.models import OrderFields, VasOrder, _long, parse_top_time

_TEXT_MAX, _CYCLE_MAX = 64, 8  # nick and plan code; the order cycle ("1", "12")
BIZ_TYPES = frozenset({1, 2, 3, 4, 5, 6})  # new, renew, upgrade, gift, auto-renew, created after order review


class BillingOrderInvalid(ValueError):
    """An order message the app cannot accept; ``reason`` says which field broke which rule."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _fen(value: object) -> object:
    # Fees are whole fen: JSON integers or digit strings. Booleans and decimals are not fees.
    if isinstance(value, bool):
        raise ValueError("must be an integer amount in fen")
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    if isinstance(value, int):
        return value
    raise ValueError("must be an integer amount in fen")


def _time(value: object) -> datetime:
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            raise ValueError("must carry a timezone")
        return value
    if isinstance(value, bool):
        raise ValueError("not a marketplace time")
    parsed = parse_top_time(value)
    if parsed is None:
        raise ValueError("missing time")
    return parsed


class OrderContent(OrderFields):
    """The validation rules of an order's content as a billing message (or ``taobao.vas.order.search``) reports
    it, over the order's fields as ``OrderFields`` declares them; ``parse_order`` turns a valid one into the app's
    ``BillingOrder``."""

    # Defaults are judged too: an order without its article code, times or payment is refused by name.
    model_config = ConfigDict(validate_default=True, coerce_numbers_to_str=True, defer_build=True)

    @model_validator(mode="before")
    @classmethod
    def _paid_is_stated(cls, data: object) -> object:
        if isinstance(data, Mapping) and "total_pay_fee" not in data:
            raise ValueError("total_pay_fee: Field required")
        return data

    @field_validator("order_id", mode="before")
    @classmethod
    def _id(cls, value: object) -> int:
        return _long(value)

    @field_validator("biz_order_id", "order_cycle", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object, info: ValidationInfo) -> object:
        if value in (None, "", 0, "0"):
            return None
        return _long(value) if info.field_name == "biz_order_id" else value

    @field_serializer("order_id", "biz_order_id")
    def _id_as_text(self, value: int | None) -> str | None:
        # The app keeps ids as text (the Orders table's range key).
        return None if value is None else str(value)

    @field_validator("nick", "item_code", mode="after")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        if len(value) > _TEXT_MAX:
            raise ValueError(f"must be at most {_TEXT_MAX} characters")
        return value

    @field_validator("biz_type", mode="before")
    @classmethod
    def _biz_type(cls, value: object) -> object:
        if isinstance(value, bool):
            raise ValueError("must be one of 1-6")
        return value

    @field_validator("biz_type", mode="after")
    @classmethod
    def _known_biz_type(cls, value: int) -> int:
        if value not in BIZ_TYPES:
            raise ValueError("must be one of 1-6")
        return value

    @field_validator("total_pay_fee", mode="before")
    @classmethod
    def _paid(cls, value: object) -> object:
        return _fen(value)

    @field_validator("refund_fee", mode="before")
    @classmethod
    def _refunded(cls, value: object) -> object:
        return 0 if value in (None, "") else _fen(value)

    @field_validator("order_cycle", mode="after")
    @classmethod
    def _short_cycle(cls, value: str | None) -> str | None:
        if value is not None and len(value) > _CYCLE_MAX:
            raise ValueError(f"must be at most {_CYCLE_MAX} characters")
        return value

    @field_validator("total_pay_fee", "refund_fee", mode="after")
    @classmethod
    def _not_negative(cls, value: int) -> int:
        if value < 0:
            raise ValueError("must not be negative")
        return value

    @field_validator("order_cycle_start", "order_cycle_end", "create", mode="before")
    @classmethod
    def _times(cls, value: object) -> datetime:
        return _time(value)

    @field_validator("article_code", mode="after")
    @classmethod
    def _our_article(cls, value: str, info: ValidationInfo) -> str:
        expected = (info.context or {}).get("article_code")
        if not expected:
            raise ValueError("no article_code to check against")
        if value != expected:
            raise ValueError("is not this app's article_code")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> OrderContent:
        if self.order_cycle_end <= self.order_cycle_start:  # type: ignore[operator]  # both judged present
            raise ValueError("order_cycle_end must be after order_cycle_start")
        if self.refund_fee > self.total_pay_fee:
            raise ValueError("refund_fee must not exceed total_pay_fee")
        return self


def _describe(error: ValidationError) -> str:
    first = error.errors(include_input=False, include_url=False)[0]
    where = ".".join(str(part) for part in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


# The marketplace's names of an order's fields that the app's ``BillingOrder`` names otherwise.
_ORDER_NAMES = {"order_cycle_start": "cycle_start", "order_cycle_end": "cycle_end", "create": "created"}


def parse_order(content: Mapping[str, Any], *, article_code: str, closed: bool = False) -> BillingOrder:
    """Validate an order's content for the app sold as ``article_code``; raise ``BillingOrderInvalid``.

    ``closed``: the order arrived as ``OrderClosed``.
    """
    if not isinstance(content, Mapping):
        raise BillingOrderInvalid("content is not a JSON object")
    try:
        valid = OrderContent.model_validate(content, context={"article_code": article_code})
    except ValidationError as exc:
        raise BillingOrderInvalid(_describe(exc)) from None
    fields = valid.model_dump(exclude={"order_cycle"})
    return BillingOrder(**{_ORDER_NAMES.get(name, name): value for name, value in fields.items()}, closed=closed)


def searched_order(order: VasOrder) -> dict[str, Any]:
    """A ``taobao.vas.order.search`` result in message-content form, to validate with ``parse_order`` (the search
    names its fields as the messages do)."""
    return order.model_dump(include=set(OrderFields.model_fields))
