"""Use case: run a per-seller job (token refresh, the daily billing pass, the daily reconcile) over any number of
sellers, each seller once per run.

A run starts on its schedule with one *plan* message per seller shard on the job's queue. A plan message
pages its shard of the job's index (``store.sellers.index_page``: keys only, never a Scan) and sends the
sellers on in *seller* messages of ``SELLERS_PER_MESSAGE``; a seller message serves its sellers one after
another. Both watch the invocation's deadline: before it comes they stop and hand the rest on as a new message
(the shard's cursor, or the sellers not served yet), so a run covers 5 sellers or 100,000 with the same
60-second functions, and the queue's consumers spread the work.

Exactly once per run: every seller is served after its run's markers were read (``store.job_runs``) and
marked when done. A redelivered message, or a page a crashed planner sends again, skips the sellers already
marked; only a seller whose serve was cut off midway is served again, and every job's serve is idempotent.
A seller whose serve fails fails its message after the others were served: SQS delivers it again (the
markers skip the rest) and, after the queue's tries, parks it in the dead-letter queue.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from chalicelib.domain.queue_messages import JobPlan, JobSellers
from chalicelib.store import job_runs, queues, sellers
from chalicelib.telemetry import count, logger

SELLERS_PER_MESSAGE = 25
PAGE = 500  # sellers per index Query; one page is planned at a time


class JobMessageInvalid(ValueError):
    """A job queue message that is not a plan or seller message of this job."""


class SellersFailed(RuntimeError):
    """Some sellers of a message failed; the message is delivered again for them (the rest are marked)."""


@dataclass(frozen=True)
class Run:
    """One run of a job: named by its schedule's time, which is also the time its candidates are chosen at."""

    job: str
    id: str
    at: datetime


@dataclass(frozen=True)
class SellerJob:
    """What makes a per-seller job: its index, its queue, its candidates' bound and what it does for a seller.

    ``serve(seller_id, run, now)`` returns the seller's outcome counts (e.g. ``{"refreshed": 1}``).
    """

    name: str
    index: str
    queue_url: Callable[[], str]
    serve: Callable[[str, Run, datetime], dict[str, int]]
    upto: Callable[[Run], int | None] = lambda run: None


@dataclass
class Handled:
    """What one message did: sellers planned or served, skipped as already served, handed on, failed."""

    planned: int = 0
    served: int = 0
    repeated: int = 0
    handed_on: int = 0
    failed: int = 0
    outcomes: Counter = field(default_factory=Counter)


def run_of(job: SellerJob, scheduled_time: str | None, *, now: datetime) -> Run:
    """The run an EventBridge firing starts: its ``time`` names it (a retried or doubled firing is the same run)."""
    if scheduled_time:
        at = datetime.strptime(scheduled_time, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    else:
        at = now.replace(microsecond=0)
    return Run(job.name, at.strftime("%Y-%m-%dT%H:%M:%SZ"), at)


def start(job: SellerJob, run: Run) -> int:
    """Queue the run's plan messages, one per seller shard; returns how many."""
    plans = [_plan_message(run, shard, None) for shard in range(sellers.SELLER_SHARDS)]
    sent = queues.send_jobs(job.queue_url(), plans)
    logger.info("job run started", extra={"job": job.name, "run": run.id, "plans": sent})
    return sent


def handle_message(
    job: SellerJob, message: JobPlan | JobSellers, *, now: datetime, out_of_time: Callable[[], bool]
) -> Handled:
    """Plan one shard or serve one list of sellers, handing on what the deadline leaves undone."""
    run = _run_of_message(job, message)
    handled = Handled()
    if isinstance(message, JobSellers):
        _serve(job, run, message.sellers, now, out_of_time, handled)
    else:
        _plan(job, run, message.shard, message.after, out_of_time, handled)
    for key in ("planned", "served", "repeated", "handed_on", "failed"):
        count(f"Job{key.title().replace('_', '')}", getattr(handled, key))
    if handled.failed:
        raise SellersFailed(f"{handled.failed} sellers of {job.name} run {run.id} failed; delivered again")
    return handled


def report(job: str, run_id: str) -> tuple[int, Counter]:
    """Sellers a run of ``job`` served and its outcome counts (operators, tests and the bench read it back)."""
    return job_runs.report(job, run_id)


def _plan_message(run: Run, shard: int, after: dict | None) -> dict:
    return JobPlan(job=run.job, run=run.id, at=int(run.at.timestamp()), shard=shard, after=after).body()


def _sellers_message(run: Run, ids: list[str]) -> dict:
    return JobSellers(job=run.job, run=run.id, at=int(run.at.timestamp()), sellers=ids).body()


def _run_of_message(job: SellerJob, message: JobPlan | JobSellers) -> Run:
    # The queue's router checked the shape; what only this job knows is checked here.
    if message.job != job.name:
        raise JobMessageInvalid(f"a {message.job} message on the {job.name} queue")
    if isinstance(message, JobPlan) and message.shard >= sellers.SELLER_SHARDS:
        raise JobMessageInvalid("bad shard cursor")
    return Run(job.name, message.run, datetime.fromtimestamp(message.at, UTC))


def _plan(
    job: SellerJob, run: Run, shard: int, after: dict | None, out_of_time: Callable[[], bool], handled: Handled
) -> None:
    url = job.queue_url()
    while True:
        page = sellers.index_page(job.index, shard, upto=job.upto(run), after=after, limit=PAGE)
        ids = page.seller_ids
        chunks = [ids[i : i + SELLERS_PER_MESSAGE] for i in range(0, len(ids), SELLERS_PER_MESSAGE)]
        queues.send_jobs(url, [_sellers_message(run, chunk) for chunk in chunks])
        handled.planned += len(ids)
        after = page.after
        if after is None:
            return
        if out_of_time():
            # The cursor goes on as a new plan message; a crash before this send plans the page again, and
            # the sellers' markers absorb the repeat.
            queues.send_jobs(url, [_plan_message(run, shard, after)])
            handled.handed_on += 1
            return


def _serve(
    job: SellerJob, run: Run, ids: list[str], now: datetime, out_of_time: Callable[[], bool], handled: Handled
) -> None:
    done = job_runs.served(job.name, run.id, ids)
    for i, seller_id in enumerate(ids):
        if out_of_time():
            rest = ids[i:]
            queues.send_jobs(job.queue_url(), [_sellers_message(run, rest)])
            handled.handed_on += len(rest)
            return
        if seller_id in done:
            handled.repeated += 1
            continue
        try:
            outcome = job.serve(seller_id, run, now)
        except Exception:
            # One seller's failure never costs the others their turn; its message comes back for it.
            handled.failed += 1
            logger.exception("job failed for a seller", extra={"job": job.name, "run": run.id, "seller_id": seller_id})
            continue
        handled.outcomes.update(outcome)
        if job_runs.mark_served(job.name, run.id, seller_id, outcome, now=now):
            handled.served += 1
        else:
            # Another delivery of the same sellers ran at the same time; each job's serve is idempotent.
            count("JobServedConcurrently")
            handled.repeated += 1
