"""The app on moto in-process with the sandbox marketplace: the stack every figure measures on.

The app's own functions run in this process: pushes go through Chalice's test gateway (routing, signature
check, parsing), the sweep and the worker are invoked with EventBridge and SQS events as Lambda would, and
the worker posts to the sandbox marketplace over HTTP on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import secrets
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlencode

from bench.counting import DynamoCounter
from chalicelib.config import DEFAULT_REGION as REGION
from sandbox import moto_atomic
from sandbox.lambda_driver import drain, lambda_context
from sandbox.market.clock import FakeClock
from sandbox.replay import Replay

APP_KEY = "12345678"
SELLER_CACHES = ("sellers", "blacklist", "tokens")  # the per-seller caches of ``runtime.CACHE_TTLS``
MARKETPLACE_PATH = "/webhooks/marketplace"
TOPIC_SHORT = {
    "taobao_trade_TradeSuccess": "trade_success",
    "taobao_trade_TradeRated": "trade_rated",
    "taobao_refund_RefundCreated": "refund",
    "taobao_refund_RefundClosed": "refund",
    "taobao_refund_RefundSuccess": "refund",
}


@dataclass
class Endpoints:
    """What ``sandbox.replay.Replay`` reads from a stack (sellers authorize through the app's HTTP routes)."""

    app: str = ""
    review_queue_url: str = ""
    reconcile_queue_url: str = ""
    backfill_queue_url: str = ""


@dataclass
class InvocationLog:
    """How many times each function ran (what Lambda would bill as requests)."""

    counts: Counter = field(default_factory=Counter)
    # SQS batches delivered to each function: the event source receives and deletes once per batch.
    deliveries: Counter = field(default_factory=Counter)


class InProcessStack:
    """Start/stop moto, the marketplace and the app's settings; ``push``, ``tick``, ``drain`` run its functions.

    With ``cold_seller_caches`` every invocation starts without the per-container seller, blacklist and token
    caches, as a container does when a seller's previous trade was more than a cache period ago.
    """

    def __init__(
        self,
        clock: FakeClock,
        *,
        counter: DynamoCounter | None = None,
        due_shards: int = 16,
        cold_seller_caches: bool = False,
        marketplace_options: dict | None = None,
    ) -> None:
        self.clock = clock
        self.counter = counter or DynamoCounter()
        self.due_shards = due_shards
        self.cold_seller_caches = cold_seller_caches
        self.marketplace_options = marketplace_options or {}
        self.app_secret = secrets.token_hex(16)
        self.endpoints = Endpoints()
        self.invocations = InvocationLog()
        self.marketplace = None
        self._mock = None
        self._saved_env: dict[str, str | None] = {}
        self._http = None
        self._sqs = None
        self._app_server = None

    # -- lifecycle ------------------------------------------------------------------------------------------
    def start(self) -> InProcessStack:
        """Provision AWS on moto in-process, start the marketplace, bind the app to both."""
        from moto import mock_aws

        from sandbox.market import SandboxMarketplace

        self._set_env(self._base_env())
        moto_atomic.install()
        self._mock = mock_aws()
        self._mock.start()
        options = {"session_ttl_seconds": 40 * 86400, **self.marketplace_options}
        self.marketplace = SandboxMarketplace(APP_KEY, self.app_secret, self.clock.now, **options)
        url = self.marketplace.start()
        self._set_env(
            {
                "HAOPING_MARKETPLACE_URL": url,
                "HAOPING_OAUTH_URL": url + "/oauth",
                # The shops' group robots are the sandbox's, as in `make run` (never the real hosts).
                "HAOPING_DINGTALK_ROBOT_URL": url + "/robot/send",
                "HAOPING_WECOM_ROBOT_URL": url + "/cgi-bin/webhook/send",
                "HAOPING_ROBOTS_LOCAL_HTTP": "1",
            }
        )
        with self.counter.phase_of("setup"):
            self._provision()
        from chalicelib.config import clock

        clock.use(self.clock.now)
        self._start_app()
        return self

    def _start_app(self) -> None:
        """The app's routes over HTTP on 127.0.0.1 (the OAuth flow is a browser's; pushes stay in-process)."""
        import threading

        from chalice.config import Config
        from chalice.local import ChaliceRequestHandler, LocalDevServer

        from app import app

        class QuietHandler(ChaliceRequestHandler):
            def log_message(self, format, *args):
                return

        server = LocalDevServer(app, Config.create(chalice_stage="dev"), "127.0.0.1", 0, handler_cls=QuietHandler)
        self._app_server = server
        threading.Thread(target=server.server.serve_forever, daemon=True, name="bench-app-http").start()
        host, port = server.server.server_address[:2]
        self.endpoints.app = f"http://{host}:{port}"
        self._set_env({"HAOPING_PUBLIC_URL": self.endpoints.app})
        from sandbox.stack import rebind_app

        rebind_app()  # the OAuth callback URL is built from the public URL

    def stop(self) -> None:
        """Stop everything started here and restore the environment (idempotent)."""
        from chalicelib.config import clock
        from sandbox.stack import rebind_app

        if self._app_server is not None:
            self._app_server.shutdown()
            self._app_server.server.server_close()
            self._app_server = None
        if self.marketplace is not None:
            self.marketplace.stop()
            self.marketplace = None
        if self._mock is not None:
            self._mock.stop()
            self._mock = None
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env.clear()
        clock.use(None)
        rebind_app()

    def __enter__(self) -> InProcessStack:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _base_env(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "HAOPING_STAGE": "bench",
            "HAOPING_TABLE_PREFIX": "haoping-bench",
            "HAOPING_DUE_SHARDS": str(self.due_shards),
            "HAOPING_APP_KEY": APP_KEY,
            "HAOPING_DRY_RUN": "",
            "POWERTOOLS_METRICS_NAMESPACE": "haoping",
        }

    def _set_env(self, env: dict[str, str]) -> None:
        for key, value in env.items():
            self._saved_env.setdefault(key, os.environ.get(key))
            os.environ[key] = value

    def _provision(self) -> None:
        import boto3

        from sandbox.provision import provision_local
        from sandbox.stack import rebind_app

        local = provision_local("bench", endpoint=None, app_key=APP_KEY, app_secret=self.app_secret)
        self.endpoints.review_queue_url = local.review_queue_url
        self.endpoints.reconcile_queue_url = local.reconcile_queue_url
        self.endpoints.backfill_queue_url = local.backfill_queue_url
        self._set_env({**local.env, "HAOPING_PUBLIC_URL": ""})
        rebind_app()
        self._sqs = boto3.client("sqs", region_name=REGION)

    # -- the functions --------------------------------------------------------------------------------------
    def _invocation(self, function: str) -> None:
        self.invocations.counts[function] += 1
        if self.cold_seller_caches:
            from chalicelib.container import container

            # What a container knows of a seller: a typical shop's trades are further apart than these live.
            # Switches and rules are the same items for every seller, so a busy container holds them warm.
            for name in SELLER_CACHES:
                container().cache(name).clear()

    def push(self, messages: list[dict], *, path: str = MARKETPLACE_PATH) -> tuple[int, dict]:
        """POST a signed batch to a push webhook through Chalice's gateway; (status, JSON body)."""
        from chalicelib.marketplace.messages import encode_batch
        from chalicelib.marketplace.models import format_top_time
        from chalicelib.marketplace.signing import sign

        if self._http is None:
            from chalice.test import Client

            from app import app

            self._http = Client(app).http
        body = encode_batch(messages)
        query = {"app_key": APP_KEY, "timestamp": format_top_time(self.clock.now()), "sign_method": "md5"}
        query["sign"] = sign(query, self.app_secret, "md5", body=body)
        topics = {TOPIC_SHORT.get(m["topic"], "other") for m in messages} if path == MARKETPLACE_PATH else {"billing"}
        self._invocation("webhook")
        with self.counter.phase_of("push:" + (topics.pop() if len(topics) == 1 else "mixed")):
            response = self._http.post(
                f"{path}?{urlencode(query)}", headers={"Content-Type": "application/json"}, body=body
            )
        return response.status_code, json.loads(response.body or b"{}")

    def tick(self) -> dict:
        """One EventBridge minute: the sweep function with a scheduled event."""
        from app import sweep_due
        from sandbox.lambda_driver import scheduled_event

        self._invocation("sweep")
        with self.counter.phase_of("sweep"):
            return sweep_due(scheduled_event(self.clock.now()), lambda_context())

    def drain(self, *, queue_url: str | None = None, worker=None, phase: str = "worker", context=None) -> int:
        """Deliver a queue's batches of ten to its function (default: reviews → worker) until it is empty, each
        invocation with a fresh ``context()`` (a 60 s Lambda context by default).

        Records the function reports failed become visible again at the next drain (``sandbox.lambda_driver``).
        Returns records delivered.
        """
        from app import review_worker

        url = queue_url or self.endpoints.review_queue_url
        worker = worker or review_worker
        make_context = context or (lambda: lambda_context(phase))

        def invoke(event: dict) -> dict | None:
            self._invocation(phase)
            self.invocations.deliveries[phase] += 1
            with self.counter.phase_of(phase):
                return worker(event, make_context())

        # The polls and deletes are the event source's, per app: only the function's own requests are its phase's.
        with self.counter.phase_of("poll"):
            return len(drain(self._sqs, url, invoke).received)

    def _drain_jobs(self) -> int:
        import app
        from chalicelib.container import container
        from sandbox.stack import JOBS

        drained = 0
        for name, (_schedule, worker, setting) in JOBS.items():
            url = getattr(container().settings, setting)
            drained += self.drain(queue_url=url, worker=getattr(app, worker), phase=name)
        return drained + self.drain(
            queue_url=self.endpoints.backfill_queue_url, worker=app.backfill_worker, phase="backfill"
        )

    def drain_install_jobs(self) -> int:
        """What authorizations queued: the message permits (reconcile queue), then the backfills (their own queue)."""
        import app

        permits = self.drain(
            queue_url=self.endpoints.reconcile_queue_url, worker=app.reconcile_worker, phase="reconcile"
        )
        return permits + self.drain(
            queue_url=self.endpoints.backfill_queue_url, worker=app.backfill_worker, phase="backfill"
        )

    def pump(self, **_) -> dict:
        """A sweep tick, then draining every queue (what ``sandbox.replay.Replay`` calls each tick)."""
        swept = self.tick()
        reconciled = self._drain_jobs()
        return {"queued": swept.get("queued", 0), "delivered": self.drain(), "reconciled": reconciled}

    def run_job(self, name: str, *, context=None) -> dict:
        """A per-seller job's scheduled run (``sandbox.stack.JOBS``): the schedule fires, then its queue is drained
        into its worker (each invocation with a fresh ``context()``, a 60 s Lambda context by default). Returns
        what the schedule answered, the messages delivered, the worker invocations and the run's outcomes."""
        import app
        from chalicelib.container import container
        from chalicelib.services.jobs import seller_jobs
        from sandbox.lambda_driver import scheduled_event
        from sandbox.stack import JOBS

        schedule, worker, setting = JOBS[name]
        make_context = context or (lambda: lambda_context(name))
        before = self.invocations.counts[name]
        self._invocation(name)
        with self.counter.phase_of(name):
            started = getattr(app, schedule)(scheduled_event(self.clock.now()), make_context())
        queue_url = getattr(container().settings, setting)
        delivered = self.drain(queue_url=queue_url, worker=getattr(app, worker), phase=name, context=make_context)
        with self.counter.phase_of("report"):  # the bench's own reading of the run's markers, not the app's
            served, outcomes = seller_jobs.report(name, started["run"])
        invocations = self.invocations.counts[name] - before
        return {**outcomes, **started, "delivered": delivered, "served": served, "invocations": invocations}

    def reconcile(self) -> dict:
        """The daily reconcile schedule: its run over every seller, through the reconcile queue and worker."""
        return self.run_job("reconcile")


class BenchReplay(Replay):
    """The sandbox's replayed market day, pushed in-process; consecutive messages of one topic share a batch."""

    def _push(self, messages: list[dict], *, path: str = MARKETPLACE_PATH) -> tuple[int, dict]:
        if path != MARKETPLACE_PATH:
            return self.stack.push(messages, path=path)
        results: list[dict] = []
        status = 200
        run: list[dict] = []
        for message in [*messages, None]:
            if run and (message is None or message["topic"] != run[-1]["topic"]):
                code, body = self.stack.push(run)
                status = code if code != 200 else status
                results += body.get("results", [])
                run = []
            if message is not None:
                run.append(message)
        return status, {"results": results}

    def messages_for(self, events) -> list[dict]:
        """The pushed messages of ``events`` (the marketplace is left as it is)."""
        return [self._message(event) for event in events]

    def happen(self, events) -> list[dict]:
        """Apply ``events`` to the marketplace, as the replay does before pushing; returns their messages."""
        for event in events:
            self._apply_to_market(event)
        return self.messages_for(events)
