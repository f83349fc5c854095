"""What a buyer's rating of a trade means for the seller's pending review and follow-up actions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from chalicelib.domain.settings import SellerSettings

TaskAction = Literal["release", "skip", "hold", "none"]


class UnknownRatingResult(ValueError):
    """A rating result other than good, neutral or bad."""


@dataclass(frozen=True)
class BuyerRatingOutcome:
    """``task_action`` for the trade's review task, and the follow-ups the seller's settings ask for."""

    task_action: TaskAction
    blacklist: bool
    explain: bool
    alert: bool


def decide_on_buyer_rating(
    result: str, settings: SellerSettings, *, features: frozenset[str] | None = None
) -> BuyerRatingOutcome:
    """Decide the reaction to a buyer rating ``result`` (good | neutral | bad).

    A good rating releases an ``after_buyer`` task. A neutral or bad one follows
    ``on_buyer_neutral_or_bad`` (``rate_good_anyway`` releases a waiting task like a good rating
    would), always alerts the seller, asks for an explanation when ``auto_explain`` is on, and
    blacklists the buyer when ``auto_blacklist_on_bad`` is on (neutral counts as bad here: the product
    promise is that a buyer who rated either is not served an automatic review again). When the plan's
    ``features`` are given, follow-ups the plan lacks are not taken.
    """
    waiting = settings.mode == "after_buyer"
    if result == "good":
        return BuyerRatingOutcome("release" if waiting else "none", blacklist=False, explain=False, alert=False)
    if result not in ("neutral", "bad"):
        raise UnknownRatingResult(f"unknown rating result {result!r}")

    policy = settings.on_buyer_neutral_or_bad
    if policy == "skip":
        action: TaskAction = "skip"
    elif policy == "hold_for_review":
        action = "hold"
    else:
        action = "release" if waiting else "none"

    def granted(feature: str) -> bool:
        return features is None or feature in features

    return BuyerRatingOutcome(
        action,
        blacklist=settings.auto_blacklist_on_bad and granted("auto_blacklist"),
        explain=settings.auto_explain and granted("auto_explain"),
        alert=True,
    )
