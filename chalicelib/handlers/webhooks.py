"""Entry point: marketplace message pushes (signed batches) → per-message results."""

from __future__ import annotations

import time

from chalice import Response

from chalicelib.container import container
from chalicelib.handlers.http import error_response
from chalicelib.marketplace.messages import Batch, MalformedBatch, parse_batch
from chalicelib.security.inbound import PushRejected, verify_push
from chalicelib.services.reviews.inbound_messages import handle_message, push_scope
from chalicelib.telemetry import count, logger


def authenticate_push(request) -> bytes:
    """The raw body of a push that passed signature, freshness and size checks (else ``PushRejected``)."""
    s = container().settings
    raw = request.raw_body or b""
    verify_push(
        request.query_params, raw, app_key=s.app_key, secret=container().app_secret(), now=container().clock.now()
    )
    return raw


# A push is answered within API Gateway's 29-second integration timeout whatever its size: after this many messages,
# or this long, the rest are answered ``error`` (the sender delivers them again) instead of risking a 504 that
# would make it resend the whole batch.
MAX_MESSAGES_PER_PUSH = 500
PUSH_BUDGET_SECONDS = 15.0
DEFERRED = "deferred: this push's work limit was reached; send it again"


def each_message(msg, handle, now) -> dict:
    """Handle one message of a push, logging under that message's id as the correlation id."""
    logger.set_correlation_id(msg.id)
    return handle(msg, now=now).as_dict()


def handle_bounded(messages, handle, now) -> list[dict]:
    """Each message's answer, handling at most ``MAX_MESSAGES_PER_PUSH`` of them within ``PUSH_BUDGET_SECONDS``;
    the others are answered ``error`` (deferred), so the sender retries exactly those and nothing valid is lost."""
    started = time.monotonic()
    results = []
    for i, msg in enumerate(messages):
        if i >= MAX_MESSAGES_PER_PUSH or time.monotonic() - started >= PUSH_BUDGET_SECONDS:
            results += [{"id": later.id, "status": "error", "detail": DEFERRED} for later in messages[i:]]
            count("PushMessagesDeferred", len(messages) - i)
            break
        results.append(each_message(msg, handle, now))
    return results


def push_answer(batch: Batch, results: list[dict], *, received_metric: str) -> Response:
    """The answer to a push (both push routes): every message's result, those refused for their envelope as
    ``rejected`` (never to be sent again), and the ids the sender must retry."""
    results = results + [{"id": r.id, "status": "rejected", "detail": r.reason} for r in batch.refused]
    count(received_metric, len(results))
    retry = [r["id"] for r in results if r["status"] == "error"]
    return Response(body={"results": results, "retry": retry}, status_code=200)


def marketplace_push(request) -> Response:
    """Verify, parse and process a batch; answer which messages the sender must retry."""
    try:
        raw = authenticate_push(request)
        batch = parse_batch(raw)
    except PushRejected as exc:
        count("PushRejected")
        logger.warning("push rejected", extra={"reason": exc.reason})
        return error_response(exc.status, "push_rejected", exc.reason)
    except MalformedBatch as exc:
        count("PushMalformed")
        return error_response(400, "malformed_batch", exc.reason)
    now = container().clock.now()
    with push_scope(batch.messages, now=now):
        results = handle_bounded(batch.messages, handle_message, now)
    for refused in batch.refused:
        logger.warning("message rejected", extra={"message_id": refused.id, "reason": refused.reason})
    count("MessageRejected", len(batch.refused))
    return push_answer(batch, results, received_metric="MessagesReceived")
