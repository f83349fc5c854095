"""The embedded local stack: moto's server as AWS, the sandbox marketplace, the app's HTTP routes, and a pump
that plays EventBridge (sweep ticks) and SQS (batches to the worker). Used by `make run`, `make serve` and e2e tests.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
from dataclasses import dataclass, field

import urllib3

from chalicelib.config import DEFAULT_REGION
from sandbox import moto_atomic
from sandbox.lambda_driver import drain, lambda_context, scheduled_event
from sandbox.market.clock import FakeClock

APP_KEY = "12345678"
TABLE_PREFIX = "haoping-local"


class StackFailed(RuntimeError):
    """A part of the local stack could not start."""


@dataclass
class Endpoints:
    """Where each part of a running stack listens."""

    aws: str = ""
    marketplace: str = ""
    app: str = ""
    review_queue_url: str = ""
    review_dlq_url: str = ""
    reconcile_queue_url: str = ""
    backfill_queue_url: str = ""
    extra: dict = field(default_factory=dict)


_ONE_REQUEST_AT_A_TIME = threading.Lock()


def _quiet_handler():
    from chalice.local import ChaliceRequestHandler

    class QuietHandler(ChaliceRequestHandler):
        def log_message(self, format, *args):
            return

        def _serve_alone(self):
            # Lambda runs one request per container at a time, and Chalice's app keeps the request being served
            # in one attribute (app.current_request): the dashboard's parallel calls must not share it here either.
            with _ONE_REQUEST_AT_A_TIME:
                ChaliceRequestHandler._generic_handle(self)

        do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _serve_alone

        def _send_error_response(self, error):
            # A path deeper than the app's catch-all routes: Chalice's gateway would answer API Gateway's 403 text,
            # which repeats the Authorization header; the app's own 404 in its error shape, as the template's
            # gateway responses give under API Gateway.
            if error.CODE == 403:
                body = b'{"error": {"code": "not_found", "message": "no such route"}}'
                return self._send_http_response(404, {"Content-Type": "application/json"}, body)
            return ChaliceRequestHandler._send_error_response(self, error)

    return QuietHandler


class LocalStack:
    """Starts and stops every part; ``pump()`` runs one sweep and drains the review queue into the worker."""

    def __init__(self, clock: FakeClock, *, due_shards: int = 4, marketplace_options: dict | None = None) -> None:
        self.clock = clock
        self.due_shards = due_shards
        self.marketplace_options = marketplace_options or {}
        self.endpoints = Endpoints()
        self.app_secret = secrets.token_hex(16)
        # Unique names per stack: several stacks may run in one process (tests) against moto's shared backends.
        self.prefix = f"{TABLE_PREFIX}-{secrets.token_hex(3)}"
        self._moto = None
        self._app_server = None
        self.marketplace = None
        self._stopped = threading.Event()
        self._retry_pending: set[str] = set()  # queues holding records a function failed (drained next pump)

    # -- lifecycle -----------------------------------------------------------------------------------------
    def start(self) -> LocalStack:
        """Start moto, the marketplace and the app; bind the app's settings to them."""
        try:
            self._start_aws()
            self._start_marketplace()
            self._configure_app()
            self._provision()
            self._start_app()
        except Exception as exc:
            self.stop()
            raise StackFailed(f"local stack failed to start: {exc}") from exc
        return self

    def stop(self) -> None:
        """Stop everything this stack started (idempotent)."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        if self._app_server is not None:
            self._app_server.shutdown()
            self._app_server.server.server_close()
        if self.marketplace is not None:
            self.marketplace.stop()
        if self._moto is not None:
            # moto keeps its backends per process, shared with in-process mocks: leave nothing behind.
            with contextlib.suppress(Exception):
                urllib3.request("POST", f"{self.endpoints.aws}/moto-api/reset", timeout=5)
            self._moto.stop()
        from chalicelib.config import clock

        clock.use(None)

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _start_aws(self) -> None:
        from moto.server import ThreadedMotoServer

        moto_atomic.install()
        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._moto.start()
        host, port = self._moto._server.server_address[:2]
        self.endpoints.aws = f"http://{host}:{port}"
        # moto keeps one state per process: a stack started after another (e2e tests) must not inherit its
        # tables, queued messages or Control switches (a quota-ban pause would stall the next run's sweep).
        import urllib3

        urllib3.request("POST", f"{self.endpoints.aws}/moto-api/reset")

    def _start_marketplace(self) -> None:
        from sandbox.market import SandboxMarketplace

        options = {"session_ttl_seconds": 40 * 86400, **self.marketplace_options}
        self.marketplace = SandboxMarketplace(APP_KEY, self.app_secret, self.clock.now, **options)
        self.endpoints.marketplace = self.marketplace.start()

    def _configure_app(self) -> None:
        env = {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": DEFAULT_REGION,
            "AWS_REGION": DEFAULT_REGION,
            "HAOPING_STAGE": "local",
            "AWS_ENDPOINT_URL": self.endpoints.aws,
            "HAOPING_TABLE_PREFIX": self.prefix,
            "HAOPING_DUE_SHARDS": str(self.due_shards),
            "HAOPING_MARKETPLACE_URL": self.endpoints.marketplace,
            "HAOPING_OAUTH_URL": self.endpoints.marketplace + "/oauth",
            "HAOPING_APP_KEY": APP_KEY,
            # The sellers' group robots are the sandbox's, on 127.0.0.1 over plain HTTP (allowed only so).
            "HAOPING_DINGTALK_ROBOT_URL": self.endpoints.marketplace + "/robot/send",
            "HAOPING_WECOM_ROBOT_URL": self.endpoints.marketplace + "/cgi-bin/webhook/send",
            "HAOPING_ROBOTS_LOCAL_HTTP": "1",
            "POWERTOOLS_METRICS_NAMESPACE": "haoping",
        }
        os.environ.update(env)
        rebind_app()
        from chalicelib.config import clock

        clock.use(self.clock.now)

    def _provision(self) -> None:
        from sandbox.provision import provision_local

        stage = self.prefix.removeprefix("haoping-")
        local = provision_local(stage, endpoint=self.endpoints.aws, app_key=APP_KEY, app_secret=self.app_secret)
        self.endpoints.review_queue_url = local.review_queue_url
        self.endpoints.review_dlq_url = local.review_dlq_url
        self.endpoints.reconcile_queue_url = local.reconcile_queue_url
        self.endpoints.backfill_queue_url = local.backfill_queue_url
        # The local stack's pages may be framed from any local port, as the workbench frames them in production.
        frames = "'self' http://127.0.0.1:*"
        os.environ.update({**local.env, "HAOPING_PUBLIC_URL": "", "HAOPING_FRAME_ANCESTORS": frames})
        rebind_app()

    def _start_app(self) -> None:
        from chalice.config import Config
        from chalice.local import LocalDevServer

        from app import app

        server = LocalDevServer(app, Config.create(chalice_stage="dev"), "127.0.0.1", 0, handler_cls=_quiet_handler())
        self._app_server = server
        threading.Thread(target=server.server.serve_forever, daemon=True, name="app-http").start()
        host, port = server.server.server_address[:2]
        self.endpoints.app = f"http://{host}:{port}"
        os.environ["HAOPING_PUBLIC_URL"] = self.endpoints.app
        rebind_app()  # the OAuth callback URL is built from the public URL

    # -- the pump: what EventBridge and SQS do in AWS ---------------------------------------------------------
    def tick(self) -> dict:
        """One EventBridge minute: invoke the sweep function with a scheduled event."""
        from app import sweep_due

        return sweep_due(scheduled_event(self.clock.now()), lambda_context("sweep"))

    def drain(self, *, queue_url: str | None = None, worker=None) -> int:
        """Deliver a queue's batches to its function (default: review queue, worker) until the queue is empty.

        Returns records delivered; records the function reports failed are visible again at the next drain.
        """
        import boto3

        from app import review_worker
        from chalicelib.container import container

        sqs = boto3.client("sqs", region_name=container().settings.region, endpoint_url=self.endpoints.aws)
        queue_url = queue_url or self.endpoints.review_queue_url
        worker = worker or review_worker
        done = drain(sqs, queue_url, lambda event: worker(event, lambda_context("worker")))
        if done.kept:
            self._retry_pending.add(queue_url)
        else:
            self._retry_pending.discard(queue_url)
        return len(done.received)

    def pump(self, *, tolerate_failures: bool = False) -> dict:
        """A sweep tick, then draining the review queue, the reconcile and backfill queues (install jobs), and the
        other job queues while they hold failed messages.

        With ``tolerate_failures`` a sweep that raised is counted and the next tick runs it again, as the next
        EventBridge minute does; otherwise the error propagates.
        """
        import app
        from chalicelib.container import container

        try:
            swept = self.tick()
        except Exception:
            if not tolerate_failures:
                raise
            swept = {"failed": 1}
        retried = 0
        for name, (_schedule, worker, setting) in JOBS.items():
            url = getattr(container().settings, setting)
            # The reconcile queue also carries what an authorization starts (the permit), any time.
            if url in self._retry_pending or name == "reconcile":
                retried += self.drain(queue_url=url, worker=getattr(app, worker))
        retried += self.drain(queue_url=self.endpoints.backfill_queue_url, worker=app.backfill_worker)
        return {"queued": swept.get("queued", 0), "delivered": self.drain(), "reconciled": retried}

    def drain_install_jobs(self) -> int:
        """What authorizations queued: the message permits (reconcile queue), then the backfills (their own queue)."""
        import app

        permits = self.drain(queue_url=self.endpoints.reconcile_queue_url, worker=app.reconcile_worker)
        return permits + self.drain(queue_url=self.endpoints.backfill_queue_url, worker=app.backfill_worker)

    def run_job(self, name: str) -> dict:
        """A per-seller job's scheduled run (``JOBS``): the schedule fires, then the job's queue is drained into
        its worker. Returns what the schedule answered, the messages delivered and the run's outcome counts."""
        import app
        from chalicelib.container import container
        from chalicelib.services.jobs import seller_jobs

        schedule, worker, setting = JOBS[name]
        started = getattr(app, schedule)(scheduled_event(self.clock.now()), lambda_context(name))
        delivered = self.drain(queue_url=getattr(container().settings, setting), worker=getattr(app, worker))
        served, outcomes = seller_jobs.report(name, started["run"])
        return {**outcomes, **started, "delivered": delivered, "served": served}

    def reconcile(self) -> dict:
        """The daily reconcile schedule: its run over every seller, through the reconcile queue and worker."""
        return self.run_job("reconcile")


# The per-seller jobs as the template wires them: schedule function, queue worker, the queue's setting (app.py).
JOBS = {
    "tokens": ("refresh_tokens", "tokens_worker", "tokens_queue_url"),
    "billing": ("billing_daily", "billing_worker", "billing_queue_url"),
    "reconcile": ("reconcile_fanout", "reconcile_worker", "reconcile_queue_url"),
}


def rebind_app() -> None:
    """Rebuild the app's container from the current environment, now (not lazily inside a later request, where
    chalice's test client would show it the stage config's environment instead)."""
    from chalicelib.container import container, reset

    reset()
    container()
