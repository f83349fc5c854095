"""Use case: route each pushed marketplace message to the use case of its topic, once."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import ValidationError

from chalicelib.container import container
from chalicelib.marketplace import topics
from chalicelib.marketplace.messages import MalformedMessage, Message
from chalicelib.security.buyer_id import buyer_keys
from chalicelib.services.ratings.handle_buyer_rating import TradeNotKnownYet
from chalicelib.services.reviews import review_queue
from chalicelib.services.reviews.schedule_review import UnknownSeller, schedule_trade
from chalicelib.services.rules import rules_in_force
from chalicelib.services.sellers.seller_state import prefetch
from chalicelib.store import buyer_history, sellers
from chalicelib.telemetry import count, failure, logger


@dataclass(frozen=True)
class MessageResult:
    """Per-message answer: ``ok``, ``duplicate``, ``ignored`` (unknown topic), ``rejected`` (never retry)
    or ``error`` (retry later)."""

    id: str
    status: str
    detail: str | None = None

    def as_dict(self) -> dict:
        out = {"id": self.id, "status": self.status}
        if self.detail:
            out["detail"] = self.detail
        return out


@contextmanager
def push_scope(messages: Sequence[Message], *, now: datetime) -> Iterator[None]:
    """Around the handling of one push: its sellers and its buyers' last review texts are read up front, a
    few requests for the whole push; the review jobs it makes due and the texts it gives are written together
    when it ends (SQS batches of ten, BatchWriteItem pages of 25), before the push is answered."""
    prefetch(str(msg.user_id) for msg in messages if msg.user_id)
    with review_queue.batched():
        try:
            with buyer_history.texts_batched(now=now):
                _prefetch_texts(messages)
                yield
        except buyer_history.TextsNotSaved as exc:
            # The push's tasks and jobs are stored: a resend would find them done. What is lost is only which
            # text these buyers got, so their next trade may repeat it; counted so it is seen.
            count("PhraseMemoryNotSaved")
            logger.warning("buyers' last texts not saved", extra=failure(exc.__cause__ or exc))


def _prefetch_texts(messages: Sequence[Message]) -> None:
    try:
        buyer_history.prefetch_texts(_buyers(messages))
    except Exception as exc:
        # Each trade then reads its buyer's text itself, and a failure there is that message's alone.
        logger.warning("buyers' last texts not prefetched", extra=failure(exc))


def _buyers(messages: Sequence[Message]) -> Iterator[tuple[str, tuple[str, ...]]]:
    secret = container().buyer_hash_secret()
    for msg in messages:
        if msg.topic != topics.TRADE_SUCCESS or not msg.user_id or sellers.cached(str(msg.user_id)) is None:
            continue
        try:
            trade = topics.TradeSuccess.model_validate(msg.payload())
        except (ValidationError, MalformedMessage):
            continue  # rejected with its reason when its turn comes
        yield str(msg.user_id), buyer_keys(secret, trade.buyer_nick, trade.buyer_open_uid)


def _trade_success(msg: Message, seller_id: str, now: datetime) -> str:
    trade = topics.TradeSuccess.model_validate(msg.payload())
    return schedule_trade(seller_id, trade, pub_time=msg.pub_time, now=now).outcome


def _known_seller(msg: Message) -> str:
    """The seller the message is for; raise ``MalformedMessage`` or ``UnknownSeller`` before anything is written."""
    if not msg.user_id:
        raise MalformedMessage("user_id (the seller) is missing")
    seller_id = str(msg.user_id)
    if sellers.cached(seller_id) is None:
        raise UnknownSeller(seller_id)
    return seller_id


def _handlers():
    from chalicelib.services.ratings import extortion_signals, handle_buyer_rating
    from chalicelib.services.reviews import handle_refund

    def refund(status: str):
        return lambda msg, seller_id, now: handle_refund.on_refund(
            seller_id, status, topics.RefundEvent.model_validate(msg.payload()), now=now
        )

    return {
        topics.TRADE_SUCCESS: _trade_success,
        topics.TRADE_RATED: lambda msg, seller_id, now: handle_buyer_rating.on_trade_rated(
            seller_id, topics.TradeRated.model_validate(msg.payload()), now=now
        ),
        topics.TRADE_BUYER_PAY: lambda msg, seller_id, now: extortion_signals.on_buyer_paid(
            seller_id, topics.TradeBuyerPay.model_validate(msg.payload()), now=now
        ),
        topics.REFUND_CREATED: refund("created"),
        topics.REFUND_CLOSED: refund("closed"),
        topics.REFUND_SUCCESS: refund("succeeded"),
    }


def _rejected(msg: Message, reason: str) -> MessageResult:
    count("MessageRejected")
    logger.warning("message rejected", extra={"message_id": msg.id, "topic": msg.topic, "reason": reason})
    return MessageResult(msg.id, "rejected", reason)


def handle_message(msg: Message, *, now: datetime) -> MessageResult:
    """Process one message: ``ok``/``duplicate``, ``rejected`` when it can never succeed (the sender must not
    retry it; nothing of it was written), ``error`` when a retry may succeed. Reasons never quote the input."""
    handler = _handlers().get(msg.topic)
    if handler is None:
        count("MessageUnknownTopic")
        return MessageResult(msg.id, "ignored", f"topic {msg.topic} is not used")
    try:
        outcome = handler(msg, _known_seller(msg), now)
    except (ValidationError, MalformedMessage) as exc:
        return _rejected(msg, exc.reason if isinstance(exc, MalformedMessage) else _first_error(exc))
    except UnknownSeller:
        return _rejected(msg, "seller has not authorized the app")
    except TradeNotKnownYet:
        if now - msg.pub_time > timedelta(days=rules_in_force().rating_window_days):
            # Its trade never came within the rating window: nothing the rating could change is left.
            return _rejected(msg, "trade unknown and its rating window is over")
        count("MessageDeferred")
        return MessageResult(msg.id, "error", "trade not known yet, retry later")
    except Exception as exc:
        count("MessageFailed")
        logger.error("message failed", extra={"message_id": msg.id, "topic": msg.topic, **failure(exc)})
        return MessageResult(msg.id, "error", "temporary failure, retry")
    count("MessageAccepted")
    return MessageResult(msg.id, "duplicate" if outcome == "duplicate" else "ok")


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    return f"{where}: {err['msg']}" if where else err["msg"]
