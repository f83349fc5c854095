"""SQS batches answered in the partial-failure shape, shared by every queue worker, records handled concurrently.

Chalice does not set ``ReportBatchItemFailures`` on its SQS event sources; the packaged template adds
``FunctionResponseTypes: [ReportBatchItemFailures]`` (``deploy/resources.json``), and the workers answer in
that shape, so one failing record never redoes its successful neighbours.

Most of a record's time is spent waiting on DynamoDB and the marketplace, so the records of a batch run on a
bounded pool of threads (``Settings.record_concurrency``). What they share is safe to share: boto3 clients
and the urllib3 pool are thread-safe, the container's caches are locked, metrics are added under a lock, and
log keys of a record (its message id as the correlation id, what the handler appends through ``record_keys``)
are kept per thread. A record is not started when too little of the invocation is left to finish it: it is
reported failed and comes back after the queue's visibility timeout, instead of being cut off by Lambda's
timeout midway.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from chalicelib.container import container
from chalicelib.handlers.lambda_entry import Deadline, DeadlineNear
from chalicelib.telemetry import count, logger

# The longest one review record may take: three marketplace attempts of 2 s connect + 5 s read, backoff, and the
# store writes around them.
RECORD_BUDGET_MS = 25_000


class PoisonJob(ValueError):
    """A queue message that can never be processed (it goes to the dead-letter queue after its tries)."""


def record_keys(**keys: object) -> None:
    """Add log keys for the rest of the current record (kept per thread, dropped when the record ends)."""
    logger.thread_safe_append_keys(**keys)


def process_batch(
    event: dict,
    context,
    record_handler: Callable[[SQSRecord], object],
    *,
    record_budget_ms: int = RECORD_BUDGET_MS,
    concurrency: int | None = None,
) -> dict:
    """Run ``record_handler`` on every record, up to ``concurrency`` at once (the settings' by default);
    returns ``{"batchItemFailures": [...]}`` naming exactly the records that raised or were not started."""
    records = [SQSRecord(raw) for raw in event.get("Records") or []]
    if not records:
        return {"batchItemFailures": []}
    deadline = Deadline(context, record_budget_ms)

    def run(record: SQSRecord) -> bool:
        if deadline.near():
            count("RecordsDeferredNearDeadline")
            return False
        record_keys(correlation_id=record.message_id)
        try:
            record_handler(record)
            return True
        except DeadlineNear:
            count("RecordsDeferredNearDeadline")
            return False
        except Exception as exc:
            # The type only: a message text may quote the record's body.
            logger.warning("record failed", extra={"error": type(exc).__name__, "poison": isinstance(exc, PoisonJob)})
            count("RecordsFailed")
            return False
        finally:
            logger.thread_safe_clear_keys()

    workers = min(len(records), concurrency or container().settings.record_concurrency)
    if workers <= 1:
        succeeded = [run(record) for record in records]
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="record") as pool:
            succeeded = list(pool.map(run, records))
    failed = [{"itemIdentifier": r.message_id} for r, ok in zip(records, succeeded, strict=True) if not ok]
    return {"batchItemFailures": failed}
