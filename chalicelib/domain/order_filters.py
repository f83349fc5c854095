"""Order filters a seller sets: which finished trades get no automatic review, and which filter said so.

A trade passes when its amount is inside the seller's range, its item is on the include list (when there is
one) and not on the skip list, and its buyer asked for no refund and opened no dispute in this shop (when the
seller chose so). Items are named by item id (digits) or by a word of the item's title.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

MAX_ITEM_RULES = 50
ITEM_RULE_MAX_CHARS = 60
# The most a trade can cost on the marketplace is far below this; the bound keeps the numbers sane.
MAX_AMOUNT = Decimal("10000000")

ItemRule = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=ITEM_RULE_MAX_CHARS)]
Amount = Annotated[Decimal, Field(ge=0, le=MAX_AMOUNT, max_digits=12, decimal_places=2)]

FilterReason = Literal[
    "filter_amount_low",
    "filter_amount_high",
    "filter_item_not_included",
    "filter_item_skipped",
    "filter_refund_buyer",
    "filter_dispute_buyer",
]
# Every reason a filter gives, in the order the filters are checked.
FILTER_REASONS: tuple[str, ...] = FilterReason.__args__


class OrderFilters(BaseModel):
    """The seller's order filters; empty lists and absent amounts filter nothing."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    min_amount: Amount | None = Field(default=None, description="yuan; trades paying less get no review")
    max_amount: Amount | None = Field(default=None, description="yuan; trades paying more get no review")
    include_items: tuple[ItemRule, ...] = Field(
        default=(), max_length=MAX_ITEM_RULES, description="item ids or title words; when set, only these"
    )
    skip_items: tuple[ItemRule, ...] = Field(
        default=(), max_length=MAX_ITEM_RULES, description="item ids or title words"
    )
    skip_refund_buyers: bool = Field(default=False, description="skip buyers who asked this shop for a refund")
    skip_dispute_buyers: bool = Field(default=False, description="skip buyers who opened a dispute with this shop")

    @model_validator(mode="after")
    def _ordered(self) -> OrderFilters:
        if self.min_amount is not None and self.max_amount is not None and self.min_amount > self.max_amount:
            raise ValueError("min_amount must not be more than max_amount")
        return self

    @property
    def needs_buyer_history(self) -> bool:
        """True when a decision needs to know the buyer's refunds or disputes in this shop."""
        return self.skip_refund_buyers or self.skip_dispute_buyers


MAX_TRADE_ITEMS = 50  # item ids kept for one trade; more sub-orders than this are not sold in one trade


def item_ids_text(ids: tuple[int | str, ...]) -> str | None:
    """A trade's item ids as stored with its task: comma-separated digits, or None when there are none."""
    return ",".join(str(i) for i in ids[:MAX_TRADE_ITEMS]) or None


def item_ids_of(text: str | None) -> tuple[str, ...]:
    """The item ids stored as ``item_ids_text`` made them."""
    return tuple(part for part in (text or "").split(",") if part)


@dataclass(frozen=True)
class TradeFacts:
    """What the filters look at; empty or ``None`` is unknown, and an unknown fact filters nothing. A trade of
    several items matches an item rule when any of its items does."""

    amount_fen: int | None = None
    item_ids: tuple[str, ...] = ()
    item_title: str | None = None
    buyer_refunded: bool = False
    buyer_disputed: bool = False


def _fen(amount: Decimal) -> int:
    return int(amount * 100)


def _matches(rule: str, facts: TradeFacts) -> bool:
    if rule.isdigit():
        return rule in facts.item_ids
    return rule.casefold() in (facts.item_title or "").casefold()


def items_unknown(filters: OrderFilters, facts: TradeFacts) -> bool:
    """True when the filters name items by id and the trade's ids are unknown, or by title word and its title
    is: the trade's items must be read before the filters can judge it."""
    rules = filters.include_items + filters.skip_items
    wants_ids = any(rule.isdigit() for rule in rules) and not facts.item_ids
    wants_title = any(not rule.isdigit() for rule in rules) and not facts.item_title
    return wants_ids or wants_title


def skip_reason(filters: OrderFilters, facts: TradeFacts) -> str | None:
    """The reason of the first filter that skips this trade, or None when the trade gets its review."""
    if facts.amount_fen is not None:
        if filters.min_amount is not None and facts.amount_fen < _fen(filters.min_amount):
            return "filter_amount_low"
        if filters.max_amount is not None and facts.amount_fen > _fen(filters.max_amount):
            return "filter_amount_high"
    known_item = bool(facts.item_ids) or bool(facts.item_title)
    if filters.include_items and known_item and not any(_matches(r, facts) for r in filters.include_items):
        return "filter_item_not_included"
    if any(_matches(r, facts) for r in filters.skip_items):
        return "filter_item_skipped"
    if filters.skip_refund_buyers and facts.buyer_refunded:
        return "filter_refund_buyer"
    if filters.skip_dispute_buyers and facts.buyer_disputed:
        return "filter_dispute_buyer"
    return None


def is_filter_reason(reason: str | None) -> bool:
    """True for a reason one of the order filters gave."""
    return bool(reason) and reason in FILTER_REASONS
