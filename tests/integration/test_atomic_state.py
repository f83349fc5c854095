"""Atomic state, raced by threads: every Seller writer writes its own concern only, so none loses another's change
(a token refresh, onboarding, a settings change, billing); lifting the last hold of a task is one conditional write,
so no task is ever left held with no holds; and the daily check repairs such a task through an index.

DynamoDB applies each request atomically; the ``aws`` fixture makes moto do the same (in-process moto takes no
lock). The threads still race between requests, where the app's reads and writes interleave, and each test forces
the interleaving that broke the whole-item save.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timedelta

import pytest

from chalicelib.container import container
from chalicelib.domain.entitlement import BillingOrder
from chalicelib.domain.task_state import State
from chalicelib.marketplace.models import TokenGrant
from chalicelib.services.billing import apply_billing_order
from chalicelib.services.jobs.refresh_tokens import refresh_seller
from chalicelib.services.onboarding import onboard_seller
from chalicelib.services.sellers import seller_settings
from chalicelib.services.sellers.seller_tokens import access_token
from chalicelib.store import audit, orders, seller_writes, sellers, tasks
from chalicelib.store.models import Task
from sandbox.lambda_driver import scheduled_event
from tests.helpers import json_body, make_seller, oauth_login

SHARDS = 4


@pytest.fixture
def atomic_dynamodb(aws, monkeypatch):
    """DynamoDB applying each request atomically (moto in-process is made to by the ``aws`` fixture; DynamoDB
    Local is); returns the operations the app sends, in order."""
    from pynamodb.connection.base import Connection

    seen: list[str] = []
    dispatch = Connection.dispatch

    def recorded(self, operation_name, operation_kwargs):
        seen.append(operation_name)
        return dispatch(self, operation_name, operation_kwargs)

    monkeypatch.setattr(Connection, "dispatch", recorded)
    return seen


def in_thread(run) -> dict:
    """Start ``run`` in a thread; the returned dict gets its ``result`` or ``error`` and the ``thread``."""
    out: dict = {}

    def target():
        try:
            out["result"] = run()
        except Exception as exc:  # the assertions look at it
            out["error"] = exc

    out["thread"] = threading.Thread(target=target)
    out["thread"].start()
    return out


def grant(seller_id: str, nick: str, now: datetime, token: str) -> TokenGrant:
    return TokenGrant(
        access_token=token,
        token_type="Bearer",
        expires_in=30 * 86400,
        refresh_token=token + "-refresh",
        re_expires_in=60 * 86400,
        taobao_user_id=seller_id,
        taobao_user_nick=nick,
        issued_at=now,
    )


# -- the Seller item: one writer per concern ----------------------------------------------------------------------
def test_a_token_refresh_keeps_its_grant_and_the_settings_changed_while_it_waited(
    client, clock, market, atomic_dynamodb, monkeypatch
):
    seller_id = json_body(oauth_login(client, "race_shop"))["seller_id"]
    old_token = access_token(sellers.get(seller_id), now=clock.now())
    asking, answered = threading.Event(), threading.Event()
    real = container().top()

    class WaitingMarketplace:
        """The refresh call stays open until the seller's settings were changed meanwhile."""

        def auth_token_refresh(self, token):
            asking.set()
            assert answered.wait(10)
            return real.auth_token_refresh(token)

    monkeypatch.setattr(container(), "top", lambda: WaitingMarketplace())
    refresh = in_thread(lambda: refresh_seller(seller_id, now=clock.now(), margin=timedelta(days=60)))
    assert asking.wait(10)
    seller_settings.update_settings(seller_id, {"delay_hours": 7}, now=clock.now())
    answered.set()
    refresh["thread"].join(10)

    assert refresh.get("result") == "refreshed", refresh.get("error")
    after = sellers.get(seller_id)
    assert after.settings["delay_hours"] == 7
    assert access_token(after, now=clock.now()) not in (None, old_token)  # the new grant is the one stored


def test_two_authorizations_at_once_both_succeed_and_create_one_seller(aws, clock, atomic_dynamodb, monkeypatch):
    both_read = threading.Barrier(2, timeout=10)
    read_once = threading.local()
    real_get = sellers.get

    def get_then_meet(seller_id, **kw):
        found = real_get(seller_id, **kw)
        if not getattr(read_once, "done", False):
            read_once.done = True
            both_read.wait()  # both have seen that there is no seller yet
        return found

    monkeypatch.setattr(sellers, "get", get_then_meet)
    now = clock.now()
    runs = [in_thread(lambda t=t: onboard_seller.onboard(grant("2270000001", "twin", now, t), now=now)) for t in "ab"]
    for run in runs:
        run["thread"].join(10)

    assert [run.get("error") for run in runs] == [None, None]
    assert [run["result"] for run in runs] == ["2270000001", "2270000001"]
    actions = Counter(r.action for r in audit.trail("2270000001"))
    assert (actions["seller.onboard"], actions["seller.reauthorize"]) == (1, 1)
    assert access_token(real_get("2270000001"), now=now) in ("a", "b")


def test_authorizing_again_never_fails_on_a_write_made_meanwhile(client, clock, market, atomic_dynamodb, monkeypatch):
    seller_id = json_body(oauth_login(client, "back_shop"))["seller_id"]
    real_sealed = onboard_seller.sealed

    def sealed_while_others_write(seller_id_, grant_):
        # Between onboarding's read and its write: the seller saves settings, billing marks a reminder.
        seller_settings.update_settings(seller_id_, {"delay_hours": 9}, now=clock.now())
        seller_writes.add_reminder(seller_id_, "1:7", stale=set(), now=clock.now())
        return real_sealed(seller_id_, grant_)

    monkeypatch.setattr(onboard_seller, "sealed", sealed_while_others_write)
    back = oauth_login(client, "back_shop")  # the code is spent at the marketplace before anything is stored

    assert back.status_code == 200, back.body
    after = sellers.get(seller_id)
    assert after.settings["delay_hours"] == 9 and after.reminders_sent == {"1:7"}
    assert access_token(after, now=clock.now())


def test_a_settings_change_is_no_conflict_with_billing_writing_meanwhile(
    client, clock, aws, atomic_dynamodb, monkeypatch
):
    from tests.integration.test_seller_api import call, session

    seller_id = make_seller(clock.now())
    real = seller_writes.set_settings

    def billing_first(*args, **kwargs):
        seller_writes.add_reminder(seller_id, "2:3", stale=set(), now=clock.now())  # the daily pass's flag
        seller_writes.set_billing_at(seller_id, 123, now=clock.now())
        return real(*args, **kwargs)

    monkeypatch.setattr(seller_writes, "set_settings", billing_first)
    answer = call(client, "PUT", "/api/settings", session(seller_id, clock.now()), {"delay_hours": 3})

    assert answer.status_code == 200, answer.body
    after = sellers.get(seller_id)
    assert after.settings["delay_hours"] == 3 and after.reminders_sent == {"2:3"} and after.billing_at == 123


def test_billing_settles_in_one_write_whatever_tokens_and_settings_do_meanwhile(
    aws, clock, atomic_dynamodb, monkeypatch
):
    now = clock.now()
    seller_id = make_seller(now, paid_days=0)
    paid = BillingOrder(
        order_id="9100000001",
        nick="test_shop",
        article_code="FW_GOODS-1000000",
        item_code="FW_GOODS-1000000-2",
        biz_type=1,
        cycle_start=now - timedelta(days=1),
        cycle_end=now + timedelta(days=30),
        total_pay_fee=1500,
        refund_fee=0,
        created=now - timedelta(days=1),
    )
    orders.record(seller_id, paid, now=now)
    real = seller_writes.set_billing
    tries = []

    def others_first(*args, **kwargs):
        # Between the settle's read and its write: a token refresh and a settings change.
        tries.append(1)
        seller_writes.set_tokens(seller_id, seller_writes.Tokens({"access": None}, 1, None), now=now)
        seller_settings.update_settings(seller_id, {"delay_hours": 4}, now=now)
        return real(*args, **kwargs)

    monkeypatch.setattr(seller_writes, "set_billing", others_first)
    settled = apply_billing_order.settle(seller_id, now=now)

    assert settled is not None and settled.became_entitled and tries == [1]
    after = sellers.get(seller_id)
    assert after.paid_until == int(paid.cycle_end.timestamp()) and after.plan == "FW_GOODS-1000000-2"
    assert after.settings["delay_hours"] == 4 and after.token_expires_at == 1


# -- holds: the last one goes with the held state, in one write ---------------------------------------------------
def held_task(seller_id: str, tid: str, now: datetime, holds: set[str]) -> None:
    task = tasks.NewTask(
        seller_id=seller_id,
        tid=tid,
        oid=None,
        trade_end=now,
        due_at=now,
        state=State.HELD,
        content="谢谢",
        template_index=0,
        item_title=None,
        buyer_hash=None,
        buyer_uid_hash=None,
        buyer_masked=None,
        holds=frozenset(holds),
        reason=sorted(holds)[0],
    )
    assert tasks.create(task, now=now, shards=SHARDS)


def consistent(task: Task) -> bool:
    """Held exactly when it holds something, and in the held index exactly then."""
    held = task.state == State.HELD.value
    return held == bool(task.holds) and held == (task.held_shard is not None) and (task.due_at is None) == held


def test_lifting_the_last_hold_is_one_write(aws, clock, atomic_dynamodb):
    now = clock.now()
    held_task("2200000001", "3900000000000951", now, {"refund"})
    atomic_dynamodb.clear()
    released = tasks.remove_hold("2200000001", "3900000000000951", "refund", now=now, shards=SHARDS, due_at=now)
    assert released is not None
    assert atomic_dynamodb == ["UpdateItem"]
    task = tasks.get("2200000001", "3900000000000951")
    assert (task.state, task.holds) == ("scheduled", None) and consistent(task)


@pytest.mark.parametrize("rounds", [12])
def test_holds_lifted_and_added_at_once_never_leave_a_task_held_for_nothing(aws, clock, atomic_dynamodb, rounds):
    now = clock.now()
    outcomes = Counter()
    for i in range(rounds):
        tid = f"39000000000010{i:02d}"
        held_task("2200000001", tid, now, {"refund", "plan_expired"} if i % 2 else {"refund"})
        start = threading.Barrier(3, timeout=10)

        def lift(hold: str, tid=tid, start=start):
            start.wait()
            return tasks.remove_hold("2200000001", tid, hold, now=now, shards=SHARDS, due_at=now)

        def add(tid=tid, start=start):
            start.wait()
            return tasks.add_hold("2200000001", tid, "reauth", now=now)

        runs = [in_thread(lambda: lift("refund")), in_thread(lambda: lift("plan_expired")), in_thread(add)]
        for run in runs:
            run["thread"].join(10)
        assert [run.get("error") for run in runs] == [None, None, None]
        task = tasks.get("2200000001", tid)
        assert consistent(task), (tid, task.state, task.holds)
        outcomes[task.state] += 1
    assert set(outcomes) <= {"held", "scheduled"}


def test_the_daily_check_repairs_a_held_task_without_holds_through_the_index(client, aws, clock, atomic_dynamodb):
    now = clock.now()
    held_task("2200000001", "3900000000000961", now, {"refund"})
    held_task("2200000001", "3900000000000962", now, {"refund"})
    # An earlier version's crash between its two writes: held, the holds gone.
    Task("2200000001", "3900000000000961").update(actions=[Task.holds.remove()])
    atomic_dynamodb.clear()
    result = client.lambda_.invoke("billing", scheduled_event(now)).payload

    assert result["holds_repaired"] == 1
    assert "Scan" not in atomic_dynamodb
    repaired, untouched = tasks.get("2200000001", "3900000000000961"), tasks.get("2200000001", "3900000000000962")
    assert repaired.state == "scheduled" and repaired.due_at == int(now.timestamp()) and consistent(repaired)
    assert untouched.state == "held" and untouched.holds == {"refund"}
    [record] = [r for r in audit.trail("2200000001") if r.action == "task.hold_repaired"]
    assert (record.actor, record.target) == ("repair", "3900000000000961")


def test_a_seller_may_retry_a_held_task_that_holds_nothing(client, aws, clock):
    from tests.integration.test_seller_api import call, session

    seller_id = make_seller(clock.now())
    held_task(seller_id, "3900000000000971", clock.now(), {"refund"})
    Task(seller_id, "3900000000000971").update(actions=[Task.holds.remove()])
    answer = call(client, "POST", "/api/tasks/3900000000000971/retry", session(seller_id, clock.now()), None)
    assert answer.status_code == 200, answer.body
    assert json_body(answer)["task"]["state"] == "scheduled"
