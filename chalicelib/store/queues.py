"""SQS: the review queue between the sweep and the workers, and the per-seller job queues.

Sends go in SendMessageBatch calls of ten. With ``senders`` > 1 the batches go out from a bounded thread pool
(the container's boto3 client is thread-safe): one sender waits a network round trip per ten jobs, so the
sweep's rate at the peak is the sender rate times the parallelism (docs/capacity.md).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from itertools import islice

from chalicelib.container import container

BATCH = 10  # SQS's SendMessageBatch limit
MAX_DELAY_SECONDS = 900  # SQS's DelaySeconds limit


class SendFailed(RuntimeError):
    """SQS refused messages of a batch; the caller's unit of work is retried (duplicates are absorbed)."""


@dataclass(frozen=True)
class Delayed:
    """A job to deliver ``delay_seconds`` from now (0–900, SQS's per-message delay)."""

    body: dict
    delay_seconds: int


def send_jobs(queue_url: str, jobs: Iterable[dict | Delayed], *, senders: int = 1) -> int:
    """Send JSON jobs in batches of ten, from ``senders`` threads at once; returns how many were sent.

    Raises ``SendFailed`` (after every batch already started has finished) if SQS refused any entry.
    """
    sqs = container().aws("sqs")
    batches = _batches(jobs)
    first, second = next(batches, None), next(batches, None)
    batches = itertools.chain(filter(None, (first, second)), batches)
    if senders <= 1 or second is None:  # one batch needs no pool of senders
        return sum(_send(sqs, queue_url, batch) for batch in batches)
    sent = 0
    failure: Exception | None = None
    with ThreadPoolExecutor(max_workers=senders, thread_name_prefix="sqs-send") as pool:
        running: set[Future] = set()
        for batch in batches:
            # At most two batches per sender wait in the pool: memory stays flat however many jobs come.
            if len(running) >= 2 * senders:
                done, running = wait(running, return_when=FIRST_COMPLETED)
                sent, failure = _collect(done, sent, failure)
                if failure is not None:
                    break
            running.add(pool.submit(_send, sqs, queue_url, batch))
        sent, failure = _collect(wait(running).done, sent, failure)
    if failure is not None:
        raise failure
    return sent


def _batches(jobs: Iterable[dict | Delayed]) -> Iterator[list[dict | Delayed]]:
    it = iter(jobs)
    while batch := list(islice(it, BATCH)):
        yield batch


def _collect(done: set[Future], sent: int, failure: Exception | None) -> tuple[int, Exception | None]:
    for future in done:
        error = future.exception()
        if error is None:
            sent += future.result()
        elif failure is None:
            failure = error
    return sent, failure


def _entry(i: int, job: dict | Delayed) -> dict:
    if isinstance(job, Delayed):
        delay = max(0, min(MAX_DELAY_SECONDS, int(job.delay_seconds)))
        return {"Id": str(i), "MessageBody": _body(job.body), "DelaySeconds": delay}
    return {"Id": str(i), "MessageBody": _body(job)}


def _body(job: dict) -> str:
    return json.dumps(job, separators=(",", ":"), ensure_ascii=False)


def _send(sqs, queue_url: str, batch: list[dict | Delayed]) -> int:
    entries = [_entry(i, job) for i, job in enumerate(batch)]
    response = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
    failed = response.get("Failed") or []
    if failed:
        raise SendFailed(f"SQS refused {len(failed)} of {len(entries)} messages: {failed[0].get('Code')}")
    return len(entries)
