"""A seller as the pipeline sees it: parsed settings, entitlement, plan features."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from chalicelib.domain.plans import UnknownPlan, features_for, hourly_cap_for
from chalicelib.domain.settings import SellerSettings, default_settings, effective_mode
from chalicelib.services.rules import rules_in_force
from chalicelib.store import sellers
from chalicelib.store.models import Seller


@dataclass(frozen=True)
class SellerView:
    """Read-only view over a stored seller."""

    seller: Seller
    settings: SellerSettings

    def entitled(self, at: datetime) -> bool:
        """True inside a paid period (``paid_until`` is derived from the seller's billing orders)."""
        return bool(self.seller.paid_until) and self.seller.paid_until > at.timestamp()

    def features(self) -> frozenset[str]:
        """Features the current plan unlocks (none for an unknown or missing plan)."""
        try:
            return features_for(self.seller.plan, rules_in_force())
        except UnknownPlan:
            return frozenset()

    def timing_settings(self) -> SellerSettings:
        """The settings with the mode the plan allows (a downgraded seller falls back to a mode it paid for)."""
        mode = effective_mode(self.settings, self.features())
        return self.settings if mode == self.settings.mode else self.settings.model_copy(update={"mode": mode})

    def hourly_cap(self) -> int:
        """Posts per hour the plan allows."""
        try:
            return hourly_cap_for(self.seller.plan, rules_in_force())
        except UnknownPlan:
            return 0


def view_of(seller: Seller) -> SellerView:
    """Wrap a stored seller; stored settings were validated when saved, so they are only parsed here."""
    settings = SellerSettings.model_validate(seller.settings) if seller.settings else default_settings()
    return SellerView(seller, settings)


def prefetch(seller_ids: Iterable[str]) -> None:
    """Read the sellers of a batch of work in one request (into the container's cache) before it starts, so a
    batch of reviews or messages costs one seller read, not one per item."""
    sellers.prefetch(seller_ids)
