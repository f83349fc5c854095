"""Use case: lift a seller-wide hold (reauth, plan_expired) from every held task of that seller."""

from __future__ import annotations

from datetime import datetime

from chalicelib.container import container
from chalicelib.domain import timing
from chalicelib.services.reviews.review_rng import rng
from chalicelib.services.rules import rules_in_force
from chalicelib.services.sellers.seller_state import view_of
from chalicelib.store import sellers, tasks
from chalicelib.telemetry import count


def hold_seller_tasks(seller_id: str, hold: str, *, now: datetime) -> int:
    """Hold every open task of a seller (one Query of its partition, never a scan); returns how many."""
    held = 0
    for task in tasks.open_tasks(seller_id):
        if tasks.add_hold(seller_id, task.tid, hold, now=now) is not None:
            held += 1
    count(f"Held_{hold}", held)
    return held


def release_seller_holds(seller_id: str, hold: str, *, now: datetime) -> int:
    """Lift ``hold`` from a seller's held tasks; tasks whose window closed meanwhile expire."""
    seller = sellers.get(seller_id)
    if seller is None:
        return 0
    settings = view_of(seller).timing_settings()
    rules = rules_in_force()
    shards = container().settings.due_shards
    released = 0
    for task in tasks.held_tasks(seller_id):
        if hold not in (task.holds or set()):
            continue
        trade_end = tasks.trade_end_of(task)
        # An explanation (or a memo) is due at once: its window is its own, and the worker judges it.
        at_once = tasks.is_explanation(task.tid) or tasks.is_memo(task.tid)
        due = now if at_once else timing.due_after_refund_closed(now, trade_end, settings, rules, spread=rng().random())
        if due is None:
            tasks.expire_held(seller_id, task.tid, now=now)
            continue
        if tasks.remove_hold(seller_id, task.tid, hold, now=now, shards=shards, due_at=due) is not None:
            released += 1
    count(f"Released_{hold}", released)
    return released
