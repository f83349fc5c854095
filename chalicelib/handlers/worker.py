"""Entry point: SQS review jobs → post reviews, reporting partial batch failures (see ``sqs_batch``)."""

from __future__ import annotations

import json

from chalicelib.container import container
from chalicelib.handlers.lambda_entry import SQS_FIRST_MESSAGE, lambda_entry
from chalicelib.handlers.sqs_batch import PoisonJob, process_batch, record_keys
from chalicelib.services.reviews.post_review import process_job
from chalicelib.services.sellers.seller_state import prefetch
from chalicelib.telemetry import count, logger


def _job(body: str) -> tuple[str, str]:
    try:
        job = json.loads(body)
        return str(job["seller_id"]), str(job["tid"])
    except (ValueError, KeyError, TypeError) as exc:
        raise PoisonJob(f"bad job body: {type(exc).__name__}") from None


def _record_handler(record) -> str:
    seller_id, tid = _job(record.body)
    record_keys(seller_id=seller_id, tid=tid)
    outcome = process_job(seller_id, tid, now=container().clock.now())
    logger.debug("job done", extra={"seller_id": seller_id, "tid": tid, "result": outcome.result})
    return outcome.result


def _first_of_each_job(event: dict) -> tuple[dict, list[str]]:
    """The batch with each job once (the sweep's safety-net job and the job queued when the task was made may
    meet in one batch: one claim decides, the other would only fail it), and the sellers it names."""
    seen: set[tuple[str, str]] = set()
    records, sellers = [], []
    for raw in event.get("Records") or []:
        try:
            job = _job(raw.get("body") or "")
        except PoisonJob:
            records.append(raw)  # reported by its record
            continue
        if job in seen:
            count("DuplicateJobInBatch")
            continue
        seen.add(job)
        records.append(raw)
        sellers.append(job[0])
    return {**event, "Records": records}, sellers


@lambda_entry(SQS_FIRST_MESSAGE)
def handle(event: dict, context) -> dict:
    """Process an SQS batch (its sellers read in one request first, each job once); returns
    ``{"batchItemFailures": [...]}`` naming only the failed records (a duplicate of a job counts as done)."""
    batch, sellers = _first_of_each_job(event)
    prefetch(sellers)
    return process_batch(batch, context, _record_handler)
