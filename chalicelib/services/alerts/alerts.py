"""Use case: tell a seller (and, when it matters, the operators) that something needs their attention."""

from __future__ import annotations

from datetime import datetime

from chalicelib import i18n
from chalicelib.container import container
from chalicelib.services.alerts import robot_alerts
from chalicelib.store import outbox
from chalicelib.store.idempotency import run_once
from chalicelib.telemetry import count, logger


def _deliver(seller_id: str, kind: str, message: str, detail: dict | None, now: datetime, key: str | None) -> dict:
    if i18n.has(f"alert.{kind}"):
        # Sellers read alerts in Chinese; the caller's text is the operators' wording of the same event.
        message = i18n.text(f"alert.{kind}", **(detail or {}))
    robots, robots_due = robot_alerts.robots_for_alert(seller_id, kind, now=now)
    outbox.record(
        seller_id,
        kind=kind,
        message=message,
        detail=detail,
        now=now,
        item_key=key,
        robots=robots,
        robots_due=robots_due,
        shards=container().settings.due_shards,
    )
    topic = container().settings.alerts_topic_arn
    message_id = None
    if topic:
        message_id = outbox.publish(
            topic, subject=f"haoping {kind}", payload={"seller_id": seller_id, "kind": kind, **(detail or {})}
        )
    count("AlertSent")
    logger.info("alert", extra={"seller_id": seller_id, "kind": kind})
    return {"sns_message_id": message_id}


def alert(
    seller_id: str,
    kind: str,
    message: str,
    *,
    now: datetime,
    detail: dict | None = None,
    once_key: str | None = None,
) -> None:
    """Record the alert in the seller's inbox (marked for the seller's group robots) and publish it to the topic.

    With ``once_key`` (the cause, e.g. ``rating:<seller>:<tid>``) a redelivered cause alerts only once.
    """
    if once_key is None:
        _deliver(seller_id, kind, message, detail, now, None)
        return
    run_once(
        "alert",
        {"seller_id": seller_id, "once_key": once_key},
        lambda: _deliver(seller_id, kind, message, detail, now, once_key),
    )
