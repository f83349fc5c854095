"""A push's per-message work beyond its task's conditional write is done once for the whole push: the buyers'
last review texts are read together and written together (one item per buyer), and never at the cost of a
message or of the no-repeat rule."""

from __future__ import annotations

from itertools import pairwise

from bench.counting import DynamoCounter
from chalicelib.store import buyer_history, tasks
from sandbox.chaos import DynamoFaults, mentions
from sandbox.stack import rebind_app
from tests.helpers import add_market_trade, json_body, push, trade_message
from tests.integration.test_review_fast_path import queued
from tests.integration.test_seller_api import call, session

TIDS = [f"39000000000009{i:02d}" for i in range(8)]
BUYER = {"buyer": "tb_regular", "buyer_open_uid": "AAHregular"}


def _two_texts_at_random(client, clock, shop) -> None:
    # Two texts chosen at random: without the memory, a buyer's next trade repeats the last text half the time.
    body = {"templates": ["宝贝很好，谢谢亲", "下次还来，好评"], "template_strategy": "random"}
    answer = call(client, "PUT", "/api/settings", session(shop, clock.now()), body)
    assert answer.status_code == 200, answer.body


def _messages(shop, clock, market, tids, **buyer) -> list[dict]:
    for tid in tids:
        add_market_trade(market, clock, tid)
    return [trade_message(shop, tid, clock.now(), **{**BUYER, **buyer}) for tid in tids]


def test_one_buyer_s_trades_in_one_push_and_the_next_never_get_a_text_twice_in_a_row(client, aws, clock, market, shop):
    _two_texts_at_random(client, clock, shop)
    first = json_body(push(client, _messages(shop, clock, market, TIDS[:5]), clock.now()))
    second = json_body(push(client, _messages(shop, clock, market, TIDS[5:]), clock.now()))

    assert [r["status"] for r in first["results"] + second["results"]] == ["ok"] * len(TIDS)
    contents = [tasks.get(shop, tid).content for tid in TIDS]
    assert all(a != b for a, b in pairwise(contents))
    # The memory is one item per buyer, found again by either of their identifiers.
    assert buyer_history.last_text(shop, ["nohash", _uid_hash("AAHregular")]) is not None


def test_a_buyer_known_by_nick_alone_next_time_still_gets_another_text(client, aws, clock, market, shop):
    _two_texts_at_random(client, clock, shop)
    push(client, _messages(shop, clock, market, TIDS[:1], buyer_open_uid=""), clock.now())
    push(client, _messages(shop, clock, market, TIDS[1:2], buyer_open_uid=""), clock.now())
    assert tasks.get(shop, TIDS[0]).content != tasks.get(shop, TIDS[1]).content


def test_a_push_reads_and_writes_its_buyers_texts_in_one_request_each(client, aws, clock, market, shop):
    _two_texts_at_random(client, clock, shop)
    messages = _messages(shop, clock, market, TIDS[:6])
    counter = DynamoCounter().install()
    rebind_app()  # the app's clients are made again, with the counter's hooks
    try:
        with counter.phase_of("push"):
            answer = json_body(push(client, messages, clock.now()))
    finally:
        counter.uninstall()
        rebind_app()
    assert [r["status"] for r in answer["results"]] == ["ok"] * 6
    calls = counter.breakdown(phases=("push",))
    assert calls.get("PutItem Tasks") == 6  # the one write each message needs
    assert calls.get("BatchGetItem Stats") == 1 and calls.get("BatchWriteItem Stats") == 1
    assert "UpdateItem Stats" not in calls and "PutItem Stats" not in calls


def test_texts_that_cannot_be_written_lose_no_message(client, aws, clock, market, shop):
    _two_texts_at_random(client, clock, shop)
    messages = _messages(shop, clock, market, TIDS[:3])
    with DynamoFaults(match=mentions(buyer_history.TEXT_PREFIX, operation="BatchWriteItem")) as faults:
        answer = json_body(push(client, messages, clock.now()))

    assert sum(faults.injected.values()) >= 1
    assert [r["status"] for r in answer["results"]] == ["ok"] * 3 and answer["retry"] == []
    assert all(tasks.get(shop, tid).state == "scheduled" for tid in TIDS[:3])  # stored
    assert sorted(job["tid"] for job in queued(aws)) == TIDS[:3]  # and queued
    # A resend finds every task done and changes nothing.
    again = json_body(push(client, messages, clock.now()))
    assert [r["status"] for r in again["results"]] == ["duplicate"] * 3


def test_texts_that_cannot_be_read_up_front_are_read_per_trade(client, aws, clock, market, shop):
    _two_texts_at_random(client, clock, shop)
    push(client, _messages(shop, clock, market, TIDS[:1]), clock.now())
    # The push's one up-front read fails; each trade then reads its own buyer's text.
    with DynamoFaults(match=mentions(buyer_history.TEXT_PREFIX, operation="BatchGetItem"), times=1) as faults:
        answer = json_body(push(client, _messages(shop, clock, market, TIDS[1:3]), clock.now()))
    assert sum(faults.injected.values()) == 1
    assert [r["status"] for r in answer["results"]] == ["ok"] * 2
    contents = [tasks.get(shop, tid).content for tid in TIDS[:3]]
    assert all(a != b for a, b in pairwise(contents))


def _uid_hash(uid: str) -> str:
    from chalicelib.container import container
    from chalicelib.security.buyer_id import buyer_hash

    return buyer_hash(container().buyer_hash_secret(), uid, kind="open_uid")
