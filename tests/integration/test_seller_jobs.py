"""Per-seller jobs at any scale: candidates come from indexes (never a Scan), runs fan out through their queues and
hand on what a deadline leaves, and each seller is served once per run — across continuations, redeliveries and
a crash in the middle."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import app
from bench.counting import DynamoCounter
from chalicelib.container import container
from chalicelib.services.jobs import reconcile_seller, seller_jobs
from chalicelib.store import seller_writes, sellers
from chalicelib.store.sellers import SELLER_SHARDS, index_page
from sandbox.chaos import InjectedCrash
from sandbox.lambda_driver import LambdaContext, drain, scheduled_event
from sandbox.stack import rebind_app
from tests.helpers import make_seller, run_job


class Work:
    """Units of work done so far: sellers served, index pages planned."""

    def __init__(self) -> None:
        self.done = 0


class WorkContext(LambdaContext):
    """A Lambda context whose time passes with the work done: every unit takes ``step_ms``, so an invocation runs
    out of time after the same work on any machine, however slow."""

    def __init__(self, work: Work, total_ms: int, step_ms: int) -> None:
        super().__init__("jobs")
        self._work, self._start, self._total, self._step = work, work.done, total_ms, step_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._total - self._step * (self._work.done - self._start))


def seed_sellers(clock, count: int) -> list[str]:
    """Sellers without tokens (their reconcile is a read and a skip): many, fast."""
    ids = [f"24{i:08d}" for i in range(count)]
    for seller_id in ids:
        sellers.create(seller_id, f"shop{seller_id}", now=clock.now(), settings={})
    return ids


def serve_counter(monkeypatch, *, crash_on: str | None = None, work: Work | None = None) -> Counter:
    """Count the reconcile job's serves per seller (a crash injected into ``crash_on``'s first one)."""
    served: Counter = Counter()
    real = reconcile_seller.reconcile_seller

    def counted(seller_id, **kwargs):
        served[seller_id] += 1
        if work is not None:
            work.done += 1
        if seller_id == crash_on and served[seller_id] == 1:
            raise InjectedCrash(f"worker died while reconciling {seller_id}")
        return real(seller_id, **kwargs)

    monkeypatch.setattr(reconcile_seller, "reconcile_seller", counted)
    return served


def run_until_done(aws, clock, name: str, context) -> tuple[dict, int]:
    """Fire the job's schedule, then let its queue's event source deliver until nothing is left (redeliveries of
    failed messages included); returns the schedule's answer and the worker invocations."""
    schedule, worker = {"reconcile": ("reconcile_fanout", "reconcile_worker")}[name]
    started = getattr(app, schedule)(scheduled_event(clock.now()), context())
    url = container().settings.reconcile_queue_url
    invocations = 0

    def invoke(event):
        nonlocal invocations
        invocations += 1
        return getattr(app, worker)(event, context())

    while drain(aws["sqs"], url, invoke).received:
        pass
    return started, invocations


def test_a_run_serves_every_seller_exactly_once_across_continuations(aws, clock, monkeypatch):
    ids = seed_sellers(clock, 60)
    monkeypatch.setattr(seller_jobs, "PAGE", 3)  # shards of several pages: the planners hand on cursors too
    work = Work()
    served = serve_counter(monkeypatch, work=work)
    real_page, handed_on = sellers.index_page, Counter()

    def page(*args, **kwargs):
        work.done += 1
        return real_page(*args, **kwargs)

    real_handle = seller_jobs.handle_message

    def watched(job, body, **kwargs):
        handled = real_handle(job, body, **kwargs)
        handed_on["sellers" if body.kind == "sellers" else "cursors"] += handled.handed_on
        return handled

    monkeypatch.setattr(sellers, "index_page", page)
    monkeypatch.setattr(seller_jobs, "handle_message", watched)

    # Every invocation has time for about three sellers or pages before its reserve is reached.
    started, invocations = run_until_done(aws, clock, "reconcile", lambda: WorkContext(work, 1_000, 200))

    assert served == Counter({seller_id: 1 for seller_id in ids})
    assert seller_jobs.report("reconcile", started["run"]) == (60, Counter({"skipped_no_session": 60}))
    assert handed_on["sellers"] > 0 and handed_on["cursors"] > 0  # both kinds of message were cut and handed on
    assert invocations > (60 + SELLER_SHARDS) // 10  # far more than the work's own batches: continuations
    dlq = aws["sqs"].get_queue_url(QueueName=container().settings.reconcile_queue_url.rsplit("/", 1)[-1] + "-dlq")
    messages = aws["sqs"].get_queue_attributes(QueueUrl=dlq["QueueUrl"], AttributeNames=["ApproximateNumberOfMessages"])
    assert messages["Attributes"]["ApproximateNumberOfMessages"] == "0"


def test_a_crash_in_the_middle_of_a_message_repeats_no_finished_seller(aws, clock, monkeypatch):
    ids = seed_sellers(clock, 12)
    monkeypatch.setattr(seller_jobs, "SELLERS_PER_MESSAGE", 12)
    victim = sorted(ids, key=lambda s: (sellers.seller_shard(s), s))[len(ids) // 2]
    served = serve_counter(monkeypatch, crash_on=victim)

    started, _ = run_until_done(aws, clock, "reconcile", lambda: LambdaContext("jobs"))

    # The victim's message failed and came back: its neighbours were not served again, the victim was.
    assert served == Counter({seller_id: 2 if seller_id == victim else 1 for seller_id in ids})
    assert seller_jobs.report("reconcile", started["run"])[0] == 12


def test_the_same_run_fired_twice_serves_nobody_twice(client, aws, clock, monkeypatch):
    ids = seed_sellers(clock, 5)
    served = serve_counter(monkeypatch)
    run_job(client, "reconcile", clock.now())
    run_job(client, "reconcile", clock.now())  # EventBridge delivered the same firing again
    assert served == Counter({seller_id: 1 for seller_id in ids})
    clock.advance(86400)
    run_job(client, "reconcile", clock.now())  # the next day's run serves everyone again
    assert served == Counter({seller_id: 2 for seller_id in ids})


def test_job_indexes_hold_only_the_sellers_each_job_needs(aws, clock):
    now = clock.now()
    due = make_seller(now, user_id="2500000001", nick="due_shop")  # tokens valid for 30 days
    gone = make_seller(now, user_id="2500000002", nick="gone_shop")
    reauth = make_seller(now, user_id="2500000003", nick="reauth_shop")
    seller_writes.erase(gone, now=now)
    seller_writes.mark_reauth(reauth, now=now)

    def everyone(index: str, upto: int | None = None) -> set[str]:
        return {s for shard in range(SELLER_SHARDS) for s in index_page(index, shard, upto=upto, limit=100).seller_ids}

    soon = int((now + timedelta(days=31)).timestamp())
    assert everyone("token_due", soon) == {due}  # reauth and purged sellers are not refreshed
    assert everyone("token_due", int(now.timestamp())) == set()  # nobody's token expires today
    assert everyone("by_shard") == {due, reauth}  # every seller not purged is reconciled
    assert gone not in everyone("billing_due", soon)


def test_no_scheduled_path_scans_a_table(client, aws, clock, market, shop):
    counter = DynamoCounter().install()
    rebind_app()  # the app's clients are made again, with the counter's hooks
    try:
        with counter.phase_of("jobs"):
            for name in ("tokens", "billing", "reconcile"):
                run_job(client, name, clock.now() + timedelta(days=29, hours=23))
            client.lambda_.invoke("sweep", scheduled_event(clock.now()))
    finally:
        counter.uninstall()
        rebind_app()
    operations = counter.breakdown(phases=("jobs",))
    assert not [op for op in operations if op.startswith("Scan")]
    assert operations.get("Query Sellers", 0) >= 3 * SELLER_SHARDS  # each run paged every shard of its index


def test_a_purged_seller_who_authorizes_again_is_back_in_every_job_index(aws, clock):
    from chalicelib.store import seller_writes

    now = clock.now()
    seller_id = make_seller(now, user_id="2500000009", nick="back_shop")
    seller_writes.erase(seller_id, now=now)
    shard = sellers.seller_shard(seller_id)
    assert seller_id not in index_page("by_shard", shard, limit=100).seller_ids

    make_seller(now, user_id="2500000009", nick="back_shop")  # authorizes again

    assert seller_id in index_page("by_shard", shard, limit=100).seller_ids
    assert seller_id in index_page("billing_due", shard, upto=int(now.timestamp()), limit=100).seller_ids
    assert (
        seller_id
        in index_page("token_due", shard, upto=int((now + timedelta(days=31)).timestamp()), limit=100).seller_ids
    )
