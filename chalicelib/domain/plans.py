"""Subscription plans: which features and how many posts an hour each service-market item grants.

Plans are data in the rules document (keyed by the service market's ``item_code``), so a new plan or a
changed cap is a rules change, not a deploy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

FEATURES = frozenset({"immediate", "delay", "after_buyer", "auto_explain", "auto_blacklist"})


class UnknownPlan(LookupError):
    """An item code that the current rules document does not define."""

    def __init__(self, item_code: str) -> None:
        super().__init__(f"unknown plan item_code {item_code!r}")
        self.item_code = item_code


class Plan(BaseModel):
    """One purchasable version of the app: display name, granted features, hourly posting cap."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    name: str = Field(min_length=1, max_length=64)
    # The name on the English page (the Chinese one when absent): a seller who switched to English reads it too.
    name_en: str | None = Field(default=None, min_length=1, max_length=64)
    features: frozenset[str]
    hourly_cap: int = Field(ge=1, le=1_000_000)

    @field_validator("features")
    @classmethod
    def _known_features(cls, value: frozenset[str]) -> frozenset[str]:
        # A misspelt feature would silently switch a paid capability off, so it is rejected.
        unknown = sorted(value - FEATURES)
        if unknown:
            raise ValueError(f"unknown features {unknown}; known: {sorted(FEATURES)}")
        return value


class Rules(Protocol):
    """What the plan lookups read of the rules in force (``domain.rules.Rules``, which is built from plans)."""

    @property
    def plans(self) -> Mapping[str, Plan]: ...

    @property
    def max_reviews_per_seller_per_hour(self) -> int: ...


def plan_for(item_code: str, rules: Rules) -> Plan:
    """Return the plan sold as ``item_code``; raise ``UnknownPlan`` when the rules do not define it."""
    try:
        return rules.plans[item_code]
    except KeyError:
        raise UnknownPlan(item_code) from None


def features_for(item_code: str | None, rules: Rules) -> frozenset[str]:
    """Features granted by ``item_code``; a seller without a plan (``None``) has none."""
    if item_code is None:
        return frozenset()
    return plan_for(item_code, rules).features


def hourly_cap_for(item_code: str | None, rules: Rules) -> int:
    """Posts per hour allowed for ``item_code``: the plan's cap, never above the market-wide ceiling.

    A seller without a plan may post nothing (0).
    """
    if item_code is None:
        return 0
    return min(plan_for(item_code, rules).hourly_cap, rules.max_reviews_per_seller_per_hour)
