"""Entry point: SQS review jobs → post reviews, reporting partial batch failures (see ``sqs_batch``)."""

from __future__ import annotations

from chalicelib.container import container
from chalicelib.domain.queue_messages import REVIEW_QUEUE, ReviewJob
from chalicelib.handlers.lambda_entry import SQS_FIRST_MESSAGE, lambda_entry
from chalicelib.handlers.sqs_batch import Received, answer, parse_records, process_batch, record_keys
from chalicelib.services.reviews.post_review import process_job
from chalicelib.services.sellers.seller_state import prefetch
from chalicelib.telemetry import count, logger


def _handle(job: ReviewJob) -> str:
    record_keys(seller_id=job.seller_id, tid=job.tid)
    outcome = process_job(job.seller_id, job.tid, now=container().clock.now())
    logger.debug("job done", extra={"seller_id": job.seller_id, "tid": job.tid, "result": outcome.result})
    return outcome.result


def _first_of_each_job(received: list[Received]) -> list[Received]:
    """Each job once: the sweep's safety-net job and the job queued when the task was made may meet in one batch
    (one claim decides, the other would only fail it)."""
    seen: set[ReviewJob] = set()
    first = []
    for one in received:
        if one.message in seen:
            count("DuplicateJobInBatch")
            continue
        seen.add(one.message)
        first.append(one)
    return first


@lambda_entry(SQS_FIRST_MESSAGE)
def handle(event: dict, context) -> dict:
    """Process an SQS batch (its sellers read in one request first, each job once); returns
    ``{"batchItemFailures": [...]}`` naming only the failed records (a duplicate of a job counts as done)."""
    parsed = parse_records(event, REVIEW_QUEUE)
    jobs = _first_of_each_job(parsed.received)
    prefetch([one.message.seller_id for one in jobs])
    return answer(event, parsed.rejected + process_batch(jobs, context, _handle))
