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

A queue's records are parsed once, on arrival, by the queue's one router (``parse_records`` with the queue's union
of ``domain.queue_messages``): a record that is not a message of its queue is rejected by its message id, logged
and counted, and its neighbours go on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError

from chalicelib.container import container
from chalicelib.handlers.lambda_entry import Deadline, DeadlineNear
from chalicelib.telemetry import count, logger

# The longest one review record may take: three marketplace attempts of 2 s connect + 5 s read, backoff, and the
# store writes around them.
RECORD_BUDGET_MS = 25_000


class PoisonJob(ValueError):
    """A queue message that can never be processed (it goes to the dead-letter queue after its tries)."""


@dataclass(frozen=True)
class Received:
    """One record of a batch and the message its body was parsed into."""

    raw: dict
    message: Any


@dataclass(frozen=True)
class Parsed:
    """A batch's records parsed by its queue's router: the messages, and the ids of the records rejected."""

    received: list[Received]
    rejected: list[str]


def parse_records(event: dict, queue: TypeAdapter) -> Parsed:
    """Parse every record's body once as a message of ``queue``; a record that is not one is rejected by its id
    (logged by type and counted, never by its body) and holds nothing else up."""
    received, rejected = [], []
    for raw in event.get("Records") or []:
        try:
            received.append(Received(raw, queue.validate_json(raw.get("body") or "")))
        except (ValidationError, RecursionError) as exc:
            logger.warning("record rejected", extra={"message_id": raw.get("messageId"), "error": type(exc).__name__})
            count("RecordsRejected")
            rejected.append(raw.get("messageId"))
    return Parsed(received, rejected)


def answer(event: dict, failed_ids: Iterable[str]) -> dict:
    """The partial-batch response naming the records SQS should deliver again, in the batch's order."""
    failed = set(failed_ids)
    ids = [raw.get("messageId") for raw in event.get("Records") or []]
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in ids if message_id in failed]}


def record_keys(**keys: object) -> None:
    """Add log keys for the rest of the current record (kept per thread, dropped when the record ends)."""
    logger.thread_safe_append_keys(**keys)


def process_batch(
    received: list[Received],
    context,
    handler: Callable[[Any], object],
    *,
    record_budget_ms: int = RECORD_BUDGET_MS,
    concurrency: int | None = None,
) -> list[str]:
    """Run ``handler`` on every received message, up to ``concurrency`` at once (the settings' by default);
    returns the message ids of exactly the records that raised or were not started."""
    if not received:
        return []
    deadline = Deadline(context, record_budget_ms)

    def run(one: Received) -> bool:
        if deadline.near():
            count("RecordsDeferredNearDeadline")
            return False
        record_keys(correlation_id=one.raw.get("messageId"))
        try:
            handler(one.message)
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

    workers = min(len(received), concurrency or container().settings.record_concurrency)
    if workers <= 1:
        succeeded = [run(one) for one in received]
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="record") as pool:
            succeeded = list(pool.map(run, received))
    return [one.raw.get("messageId") for one, ok in zip(received, succeeded, strict=True) if not ok]
