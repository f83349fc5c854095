"""A buyer's rating costs the task as few writes as its effects need: a rating with nothing to follow is recorded
and marked applied in one write, and a release meets only a task still waiting."""

from __future__ import annotations

import pytest

from chalicelib.marketplace.topics import TradeRated
from chalicelib.services.ratings.handle_buyer_rating import on_trade_rated
from chalicelib.store import tasks
from chalicelib.store.models import Task
from tests.helpers import set_seller
from tests.integration.test_tokens_job import market, onboard, run_sweep_and_worker, seed_trade  # noqa: F401


@pytest.fixture
def task_updates(monkeypatch):
    """Every UpdateItem of a task, by the attributes it set."""
    seen: list[set[str]] = []
    real = Task.update

    def update(self, actions, condition=None, **kwargs):
        seen.append({str(a.values[0]).split()[0] if a.values else "" for a in actions})
        return real(self, actions, condition=condition, **kwargs)

    monkeypatch.setattr(Task, "update", update)
    return seen


def _posted(client, aws, clock, market, nick, tid, **settings):  # noqa: F811
    seller_id = onboard(client, clock, nick, **settings)
    seed_trade(client, clock, market, nick, seller_id, tid)
    clock.advance(3600)
    run_sweep_and_worker(client, aws, clock)
    assert tasks.get(seller_id, tid).state == "posted"
    return seller_id


def test_a_good_rating_after_the_post_is_one_write_of_the_task(client, aws, clock, market, task_updates):  # noqa: F811
    tid = "3900000000000301"
    seller_id = _posted(client, aws, clock, market, "good_shop", tid, mode="immediate")
    task_updates.clear()

    assert on_trade_rated(seller_id, TradeRated(tid=tid, result="good"), now=clock.now()) == "ok"
    assert len(task_updates) == 1
    task = tasks.get(seller_id, tid)
    assert task.buyer_rating == "good" and task.rating_applied_at is not None

    # A redelivery repeats nothing, and writes nothing more than its refused record.
    assert on_trade_rated(seller_id, TradeRated(tid=tid, result="good"), now=clock.now()) == "duplicate"
    assert len(task_updates) == 2


def test_a_bad_rating_is_marked_applied_only_after_its_effects(client, aws, clock, market, task_updates):  # noqa: F811
    tid = "3900000000000302"
    seller_id = _posted(client, aws, clock, market, "bad_shop", tid, mode="immediate")
    task_updates.clear()

    assert on_trade_rated(seller_id, TradeRated(tid=tid, result="bad"), now=clock.now(), text="太慢了") == "ok"
    task = tasks.get(seller_id, tid)
    assert task.buyer_rating == "bad" and task.rating_applied_at is not None
    # Recorded first, marked applied last, in writes of their own: a timeout in between is completed later.
    assert len(task_updates) >= 2
    assert task_updates.index(next(u for u in task_updates if "rating_applied_at" in u)) == len(task_updates) - 1


def test_a_release_moves_a_waiting_task_and_leaves_a_posted_one_unwritten(client, aws, clock, market, task_updates):  # noqa: F811
    waiting, posted = "3900000000000303", "3900000000000304"
    # A task posted before the seller waited for buyers, then one that waits.
    seller_id = _posted(client, aws, clock, market, "waiting_shop", posted, mode="immediate")
    set_seller(seller_id, clock.now(), settings={"mode": "after_buyer"})
    seed_trade(client, clock, market, "waiting_shop", seller_id, waiting)
    before = tasks.get(seller_id, waiting)
    task_updates.clear()

    assert on_trade_rated(seller_id, TradeRated(tid=waiting, result="good"), now=clock.now()) == "ok"
    released = tasks.get(seller_id, waiting)
    assert released.due_at == int(clock.now().timestamp()) < before.due_at
    assert released.buyer_rating == "good" and released.rating_applied_at is not None
    assert len(task_updates) == 1  # recorded, released and marked applied in one write
    task_updates.clear()

    assert on_trade_rated(seller_id, TradeRated(tid=posted, result="good"), now=clock.now()) == "ok"
    # Recorded and marked applied; the posted task is not asked to move (a refused write costs a unit too).
    assert len(task_updates) == 2
    assert tasks.get(seller_id, posted).rating_applied_at is not None


def test_a_waiting_task_that_changed_after_it_was_read_is_released_the_long_way(
    client,
    aws,
    clock,
    market,  # noqa: F811
    task_updates,
    monkeypatch,
):
    from chalicelib.services.ratings import handle_buyer_rating

    seller_id = onboard(client, clock, "changing_shop", mode="after_buyer")
    tid = "3900000000000305"
    seed_trade(client, clock, market, "changing_shop", seller_id, tid)
    before = tasks.get(seller_id, tid)
    real_get = tasks.get

    def stale_get(seller, trade):  # the task as it was before another write bumped its revision
        task = real_get(seller, trade)
        task.rev = (task.rev or 0) - 1
        return task

    monkeypatch.setattr(handle_buyer_rating.tasks, "get", stale_get)
    task_updates.clear()
    assert on_trade_rated(seller_id, TradeRated(tid=tid, result="good"), now=clock.now()) == "ok"
    after = real_get(seller_id, tid)
    assert after.buyer_rating == "good" and after.rating_applied_at is not None and after.due_at < before.due_at
    # The one write was refused (nothing written), then: record, reschedule, applied.
    assert len(task_updates) == 4
    assert on_trade_rated(seller_id, TradeRated(tid=tid, result="good"), now=clock.now()) == "duplicate"


def test_a_bad_rating_of_a_posted_review_asks_the_store_for_no_skip_or_hold(client, aws, clock, market, monkeypatch):  # noqa: F811
    tid, held = "3900000000000305", "3900000000000306"
    seller_id = _posted(client, aws, clock, market, "late_bad_shop", tid, mode="immediate")
    asked = []

    def counted(name):
        real = getattr(tasks, name)

        def asking(*args, **kwargs):
            asked.append(name)
            return real(*args, **kwargs)

        return asking

    for name in ("transition", "add_hold"):
        monkeypatch.setattr(tasks, name, counted(name))

    assert on_trade_rated(seller_id, TradeRated(tid=tid, result="bad"), now=clock.now(), text="太慢了") == "ok"
    assert asked == []  # the review stands: a skip would be refused (and billed as a write)
    assert tasks.get(seller_id, tid).state == "posted"

    # A task still waiting is skipped as before, and one the seller holds for review is held.
    set_seller(seller_id, clock.now(), settings={"mode": "after_buyer"})
    seed_trade(client, clock, market, "late_bad_shop", seller_id, held)
    assert on_trade_rated(seller_id, TradeRated(tid=held, result="neutral"), now=clock.now()) == "ok"
    assert asked == ["transition"] and tasks.get(seller_id, held).state == "skipped"
