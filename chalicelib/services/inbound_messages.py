"""Use case: route each pushed marketplace message to the use case of its topic, once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError

from chalicelib.marketplace import topics
from chalicelib.marketplace.messages import MalformedMessage, Message
from chalicelib.services.handle_buyer_rating import TradeNotKnownYet
from chalicelib.services.schedule_review import UnknownSeller, schedule_trade
from chalicelib.telemetry import count, logger


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


def _trade_success(msg: Message, now: datetime) -> str:
    trade = topics.TradeSuccess.model_validate(msg.payload())
    return schedule_trade(_seller_id(msg), trade, pub_time=msg.pub_time, now=now).outcome


def _seller_id(msg: Message) -> str:
    if not msg.user_id:
        raise MalformedMessage("user_id (the seller) is missing")
    return str(msg.user_id)


def _handlers():
    from chalicelib.services import handle_buyer_rating, handle_refund

    return {
        topics.TRADE_SUCCESS: _trade_success,
        topics.TRADE_RATED: lambda msg, now: handle_buyer_rating.on_trade_rated(
            _seller_id(msg), topics.TradeRated.model_validate(msg.payload()), now=now
        ),
        topics.REFUND_CREATED: lambda msg, now: handle_refund.on_refund(
            _seller_id(msg), "created", topics.RefundEvent.model_validate(msg.payload()), now=now
        ),
        topics.REFUND_CLOSED: lambda msg, now: handle_refund.on_refund(
            _seller_id(msg), "closed", topics.RefundEvent.model_validate(msg.payload()), now=now
        ),
        topics.REFUND_SUCCESS: lambda msg, now: handle_refund.on_refund(
            _seller_id(msg), "succeeded", topics.RefundEvent.model_validate(msg.payload()), now=now
        ),
    }


def handle_message(msg: Message, *, now: datetime) -> MessageResult:
    """Process one message; validation problems are rejected (and counted), infrastructure errors retried."""
    handler = _handlers().get(msg.topic)
    if handler is None:
        count("MessageUnknownTopic")
        return MessageResult(msg.id, "ignored", f"topic {msg.topic} is not used")
    try:
        outcome = handler(msg, now)
    except (ValidationError, MalformedMessage) as exc:
        count("MessageRejected")
        reason = exc.reason if isinstance(exc, MalformedMessage) else _first_error(exc)
        logger.warning("message rejected", extra={"message_id": msg.id, "topic": msg.topic, "reason": reason})
        return MessageResult(msg.id, "rejected", reason)
    except UnknownSeller:
        count("MessageRejected")
        logger.warning("message for unknown seller", extra={"message_id": msg.id, "topic": msg.topic})
        return MessageResult(msg.id, "rejected", "seller has not authorized the app")
    except TradeNotKnownYet:
        count("MessageDeferred")
        return MessageResult(msg.id, "error", "trade not known yet, retry later")
    except Exception:
        count("MessageFailed")
        logger.exception("message failed", extra={"message_id": msg.id, "topic": msg.topic})
        return MessageResult(msg.id, "error", "temporary failure, retry")
    count("MessageAccepted")
    return MessageResult(msg.id, "duplicate" if outcome == "duplicate" else "ok")


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    return f"{where}: {err['msg']}" if where else err["msg"]
