"""Entry points: service-market billing pushes (signed batches of order messages), and the daily billing pass."""

from __future__ import annotations

import json

from chalice import Response

from chalicelib.container import container
from chalicelib.handlers import job_queue
from chalicelib.handlers.http import error_response
from chalicelib.handlers.lambda_entry import SCHEDULED, SQS_FIRST_MESSAGE, Deadline, lambda_entry
from chalicelib.handlers.webhooks import authenticate_push, handle_bounded, push_answer
from chalicelib.marketplace.messages import MalformedBatch, parse_batch
from chalicelib.security.inbound import PushRejected
from chalicelib.services.billing import billing_daily
from chalicelib.services.billing.apply_billing_order import handle_billing_message, keep_rejected
from chalicelib.services.reviews import held_repair
from chalicelib.telemetry import count, logger

# A refused batch is kept for inspection; beyond this much of it, the rest is cut (an item holds 400 KB).
KEEP_BODY_CHARS = 64_000


def _kept(text: str) -> dict:
    return {"raw": text[:KEEP_BODY_CHARS], "truncated": len(text) > KEEP_BODY_CHARS}


def billing_push(request) -> Response:
    """Verify, parse and apply a batch of order messages; answer which ones the sender must retry.

    An authentic batch that cannot be parsed is kept in the Rejected table before it is refused (400).
    """
    try:
        raw = authenticate_push(request)
    except PushRejected as exc:
        count("BillingPushRejected")
        logger.warning("billing push rejected", extra={"reason": exc.reason})
        return error_response(exc.status, "push_rejected", exc.reason)
    now = container().clock.now()
    try:
        batch = parse_batch(raw)
    except MalformedBatch as exc:
        keep_rejected(exc.reason, _kept(raw.decode("utf-8", errors="replace")), now=now)
        return error_response(400, "malformed_batch", exc.reason)
    results = handle_bounded(batch.messages, handle_billing_message, now)
    for refused in batch.refused:  # kept for inspection, as every billing message the app refuses
        keep_rejected(refused.reason, _kept(json.dumps(refused.raw, ensure_ascii=False)), now=now, ref=refused.id)
    return push_answer(batch, results, received_metric="BillingMessagesReceived")


# The daily schedule also repairs held tasks left without holds; it stops this long before the deadline.
REPAIR_RESERVE_MS = 10_000


@lambda_entry(SCHEDULED)
def daily(event: dict, context) -> dict:
    """The daily billing pass (EventBridge): recover lost orders, start the run over the sellers due, and repair
    any held task left without holds."""
    now = container().clock.now()
    started = billing_daily.start(now=now, run=job_queue.run_of(billing_daily.JOB, event))
    repaired = held_repair.repair_holdless(now=now, stop=Deadline(context, REPAIR_RESERVE_MS).near)
    return {**started, "holds_repaired": repaired}


@lambda_entry(SQS_FIRST_MESSAGE)
def daily_work(event: dict, context) -> dict:
    """Plan or serve a batch of the daily pass's messages (partial batch response)."""
    return job_queue.work(billing_daily.JOB, event, context)
