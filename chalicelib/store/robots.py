"""A seller's group robots as stored on the seller (``Seller.robots``), and each robot's per-minute send budget.

``Seller.robots`` maps a channel (``dingtalk``/``wecom``) to ``{"blob", "hint", "added_at", "paused_until",
"refused"}``: ``blob`` is the KMS-encrypted credential (written by the service, never decrypted here), ``hint`` the
last four characters the seller may see. Every change is a conditional update on ``robots_rev``, so a throttle
mark and a seller's edit never overwrite each other.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from pynamodb.exceptions import UpdateError

from chalicelib.store import sellers
from chalicelib.store.conditional import condition_failed
from chalicelib.store.models import Seller, Stats

_TRIES = 5
BUDGET_RETENTION = timedelta(days=1)


def of(seller: Seller | None) -> dict[str, dict]:
    """The seller's robots by channel (empty when none)."""
    return dict((seller.robots or {}) if seller is not None else {})


def change(seller_id: str, edit: Callable[[dict[str, dict]], dict[str, dict] | None], *, now: datetime) -> bool:
    """Apply ``edit`` to the seller's robots and store the result; ``edit`` returning None changes nothing.

    Re-read and re-applied when another write got there first; False when the seller does not exist.
    """
    for _ in range(_TRIES):
        try:
            seller = Seller.get(seller_id, consistent_read=True)
        except Seller.DoesNotExist:
            return False
        rev = seller.robots_rev
        edited = edit(of(seller))
        if edited is None:
            return True
        unchanged = Seller.robots_rev.does_not_exist() if rev is None else Seller.robots_rev == rev
        try:
            Seller(seller_id).update(
                actions=[
                    Seller.robots.set(edited) if edited else Seller.robots.remove(),
                    Seller.robots_rev.set((rev or 0) + 1),
                    Seller.updated_at.set(int(now.timestamp())),
                ],
                condition=Seller.seller_id.exists() & unchanged,
            )
        except UpdateError as exc:
            if condition_failed(exc):
                continue
            raise
        sellers.forget(seller_id)
        return True
    raise RuntimeError(f"robots of {seller_id} kept changing underneath")


def reserve_send(seller_id: str, channel: str, *, cap: int, now: datetime) -> bool:
    """Count one message to the seller's ``channel`` robot in this clock minute; False when ``cap`` are already sent."""
    bucket = f"robot#{channel}#{now.strftime('%Y-%m-%dT%H:%M')}"
    room = Stats.robot_sends.does_not_exist() | (Stats.robot_sends < cap)
    try:
        Stats(seller_id, bucket).update(
            actions=[Stats.robot_sends.add(1), Stats.expire_at.set(now + BUDGET_RETENTION)], condition=room
        )
    except UpdateError as exc:
        if condition_failed(exc):
            return False
        raise
    return True
