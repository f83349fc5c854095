"""Use case: where a new seller stands in the first run — subscription → authorization → backfill → first reviews.

Each step is done, the one to do now (``current``, the first not done), or still to come. The backfill step's
progress comes from the install backfill when there is one; until then it is done once the shop is authorized.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from chalicelib.services.sellers.seller_views import seller_view, stats_for

STEPS = ("subscription", "authorization", "backfill", "first_reviews")


@dataclass(frozen=True)
class Step:
    """One step of the journey and the numbers the page shows beside it."""

    step: str
    state: str  # done | current | todo
    detail: dict = field(default_factory=dict)


def journey_of(seller_id: str, *, now: datetime) -> list[Step]:
    """The four steps for this seller, in order."""
    view = seller_view(seller_id)
    seller = view.seller
    posted = sum(day.posted for day in stats_for(seller_id, days=30, now=now))
    authorized = bool(seller.tokens) and seller.status not in ("reauth", "purged")
    backfill = seller.backfill or {}
    done = {
        "subscription": view.entitled(now),
        "authorization": authorized,
        "backfill": authorized and backfill.get("state", "done") == "done",
        "first_reviews": posted > 0,
    }
    details = {
        "subscription": {"plan": seller.plan},
        "backfill": {"scheduled": int(backfill.get("scheduled") or 0)},
        "first_reviews": {"posted": posted},
    }
    steps, current_given = [], False
    for name in STEPS:
        if done[name]:
            state = "done"
        elif not current_given:
            state, current_given = "current", True
        else:
            state = "todo"
        steps.append(Step(name, state, details.get(name, {})))
    return steps
