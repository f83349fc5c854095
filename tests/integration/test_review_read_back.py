"""Before a review is marked failed on a business refusal, the worker reads the trade's rating back: the sub_codes for
"already rated" and "window closed" are not published, so the marketplace's record decides. The sandbox answers
sub_codes nobody knows, after really recording the rating or without doing so."""

from __future__ import annotations

from datetime import timedelta

from chalicelib.marketplace import errors
from chalicelib.marketplace.errors import TopCode
from chalicelib.store import audit, tasks
from sandbox.lambda_driver import scheduled_event
from tests.helpers import add_market_trade, push, trade_message, work_review_queue

TID = "3900000000000801"
REVIEW = "taobao.traderate.add"
READ = "taobao.traderates.get"
UNKNOWN = "isv.rate-service-error:-9999"  # a rating-service answer no public source explains


def _trade_due(client, clock, market, shop) -> None:
    add_market_trade(market, clock, TID)
    push(client, [trade_message(shop, TID, clock.now())], clock.now())
    clock.advance(60)


def _work(client, clock) -> None:
    """The review worker on the job queued when the task was made (the sweep would only queue a duplicate)."""
    work_review_queue(client)


def _refuse(market, sub_code: str, *, after_effect: bool) -> None:
    market.faults.set(
        REVIEW,
        error_rate=1.0,
        error_code=TopCode.REMOTE_SERVICE_ERROR,
        error_sub_code=sub_code,
        after_effect=after_effect,
    )


def test_an_unknown_refusal_after_the_rating_was_recorded_is_a_posted_review(client, aws, clock, market, shop):
    _trade_due(client, clock, market, shop)
    _refuse(market, UNKNOWN, after_effect=True)

    _work(client, clock)

    task = tasks.get(shop, TID)
    assert (task.state, task.reason) == ("posted", "already_rated")
    assert task.response["read_back"] is True and task.response["code"] == UNKNOWN
    assert market.post_counts(int(TID)) == 1 and market.calls[READ] == 1
    assert [a.result for a in audit.trail(shop) if a.action == REVIEW] == ["already_rated"]


def test_an_unknown_refusal_without_a_rating_fails_as_classified(client, aws, clock, market, shop):
    _trade_due(client, clock, market, shop)
    _refuse(market, UNKNOWN, after_effect=False)

    _work(client, clock)

    task = tasks.get(shop, TID)
    assert (task.state, task.reason) == ("failed", UNKNOWN)
    assert market.post_counts(int(TID)) == 0 and market.calls[READ] == 1


def test_the_period_expired_code_with_no_rating_is_expired(client, aws, clock, market, shop):
    _trade_due(client, clock, market, shop)
    _refuse(market, errors.SUB_RATE_PERIOD_EXPIRED, after_effect=False)

    _work(client, clock)

    assert (tasks.get(shop, TID).state, tasks.get(shop, TID).reason) == ("expired", "window_closed")


def test_the_assumed_already_rated_code_is_believed_only_after_the_read_back(client, aws, clock, market, shop):
    """A repeat ``traderate.add`` (a crash after an accepted post) answers the assumed code; the rating is there."""
    _trade_due(client, clock, market, shop)
    _refuse(market, errors.SUB_RATE_ALREADY_EXIST, after_effect=True)

    _work(client, clock)

    task = tasks.get(shop, TID)
    assert (task.state, task.reason, task.response.get("read_back")) == ("posted", "already_rated", True)


def test_a_failed_read_back_retries_instead_of_deciding(client, aws, clock, market, shop):
    _trade_due(client, clock, market, shop)
    _refuse(market, UNKNOWN, after_effect=True)
    market.faults.set(READ, error_rate=1.0)  # the read-back itself fails (platform-side)

    _work(client, clock)

    task = tasks.get(shop, TID)
    assert (task.state, task.reason, task.attempts) == ("scheduled", "read_back_failed", 1)
    market.faults.clear()
    clock.set(tasks.trade_end_of(task) + timedelta(hours=6))
    client.lambda_.invoke("sweep", scheduled_event(clock.now()))  # the retry is due: the sweep queues it
    _work(client, clock)
    # The rating was recorded by the first attempt: the next try is refused as a repeat and read back as posted.
    assert (tasks.get(shop, TID).state, market.post_counts(int(TID))) == ("posted", 1)
