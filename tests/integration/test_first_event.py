"""A function's first event in a fresh container pays for little beyond its own work: no DescribeTable (the
models give PynamoDB their tables' schema), each secret fetched once per container even when a batch's records
start together, at most two round trips that only set the container up, and no X-Ray SDK unless X-Ray records
the invocation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import pytest
from botocore import handlers

from chalicelib import telemetry
from sandbox.lambda_driver import drain, lambda_context, scheduled_event
from sandbox.stack import rebind_app
from tests.helpers import add_market_trade, json_body, push, trade_message

# Requests that set a container up rather than do an event's work.
SETUP = frozenset({"secretsmanager.GetSecretValue", "dynamodb.DescribeTable", "sqs.GetQueueUrl", "kms.DescribeKey"})
SETUP_BUDGET = 2
# A secret fetch held this long overlaps the fetches of a batch's other records, as a slow network would.
SLOW_SECRET_S = 0.2
TIDS = [f"39000000000009{i:02d}" for i in range(3)]


@contextmanager
def aws_requests():
    """Every AWS request the app makes inside the block, as ("service.Operation", table or secret id)."""
    calls: list[tuple[str, str]] = []

    def seen(params, model, **_):
        operation = f"{model.service_model.service_name}.{model.name}"
        calls.append((operation, str(params.get("TableName") or params.get("SecretId") or "")))
        if operation == "secretsmanager.GetSecretValue":
            time.sleep(SLOW_SECRET_S)

    hook = ("before-parameter-build", seen)
    handlers.BUILTIN_HANDLERS.append(hook)
    rebind_app()  # the app's clients are made again, with the hook
    try:
        yield calls
    finally:
        handlers.BUILTIN_HANDLERS.remove(hook)
        rebind_app()


def first_event(calls: list, run) -> list[tuple[str, str]]:
    """The requests of ``run()``, the first event of a container built for it."""
    rebind_app()
    mark = len(calls)
    run()
    return calls[mark:]


def work_queue(client, aws_sqs, queue_url: str, function: str) -> int:
    """Deliver the queue's batches to ``function``; how many records it was handed."""
    done = drain(aws_sqs, queue_url, lambda event: client.lambda_.invoke(function, event).payload)
    return len(done.received)


def assert_lean(name: str, requests: list[tuple[str, str]]) -> None:
    operations = [operation for operation, _ in requests]
    assert "dynamodb.DescribeTable" not in operations, f"{name}: {requests}"
    secrets = Counter(subject for operation, subject in requests if operation == "secretsmanager.GetSecretValue")
    assert all(n == 1 for n in secrets.values()), f"{name} fetched a secret more than once: {secrets}"
    setup = [call for call in requests if call[0] in SETUP]
    assert len(setup) <= SETUP_BUDGET, f"{name}: {setup}"


def test_every_functions_first_event_is_lean(client, aws, clock, market, shop):
    from chalicelib.container import container

    for tid in TIDS:
        add_market_trade(market, clock, tid)
    now = clock.now()
    firsts: dict[str, list] = {}
    with aws_requests() as calls:
        answers = []
        firsts["api"] = first_event(
            calls, lambda: answers.append(push(client, [trade_message(shop, tid, now) for tid in TIDS], now))
        )
        delivered = []
        firsts["worker"] = first_event(
            calls, lambda: delivered.append(work_queue(client, aws["sqs"], aws["queue_url"], "worker"))
        )
        firsts["sweep"] = first_event(calls, lambda: client.lambda_.invoke("sweep", scheduled_event(now)))
        for job in ("tokens", "billing", "reconcile"):
            firsts[job] = first_event(calls, lambda job=job: client.lambda_.invoke(job, scheduled_event(now)))
            queue = getattr(container().settings, f"{job}_queue_url")
            firsts[f"{job}_worker"] = first_event(
                calls, lambda job=job, queue=queue: work_queue(client, aws["sqs"], queue, f"{job}_worker")
            )

    assert [r["status"] for r in json_body(answers[0])["results"]] == ["ok"] * len(TIDS)
    assert delivered[0] == len(TIDS)  # the worker's first event had several records starting together
    # The secrets the events need were fetched at all (the check below is about how often, not whether).
    assert any(op == "secretsmanager.GetSecretValue" for op, _ in firsts["api"])
    assert any(op == "secretsmanager.GetSecretValue" for op, _ in firsts["worker"])
    for name, requests in firsts.items():
        assert_lean(name, requests)


def test_a_batchs_records_of_one_seller_share_one_decrypt_of_its_token(client, aws, clock, market, shop):
    for tid in TIDS:
        add_market_trade(market, clock, tid)
    now = clock.now()
    delivered = []
    with aws_requests() as calls:
        push(client, [trade_message(shop, tid, now) for tid in TIDS], now)
        worker = first_event(
            calls, lambda: delivered.append(work_queue(client, aws["sqs"], aws["queue_url"], "worker"))
        )

    assert delivered == [len(TIDS)]  # the shop's records started together
    assert [op for op, _ in worker].count("kms.Decrypt") == 1, worker
    assert {str(rate["tid"]) for rate in market.rates_given()} >= set(TIDS)  # every record used the one token


def test_a_batchs_records_share_one_fetch_of_a_secret(aws):
    from concurrent.futures import ThreadPoolExecutor

    from chalicelib.container import container

    with aws_requests() as calls:
        rebind_app()
        with ThreadPoolExecutor(4) as pool:
            values = list(pool.map(lambda _: container().app_secret(), range(4)))
    assert set(values) == {container().app_secret()}
    assert [op for op, _ in calls].count("secretsmanager.GetSecretValue") == 1


def test_a_batchs_records_share_one_dynamodb_client_across_tables(aws, monkeypatch):
    """Records that start together, each on another table, create one DynamoDB client between them (botocore's
    client creation is not thread-safe, and each racing creation parsed the service model again)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from botocore.session import Session
    from pynamodb.exceptions import DoesNotExist

    from chalicelib.container import container
    from chalicelib.store.models import Audit, Control, Seller, Stats, Task

    made: list[str] = []
    create_client = Session.create_client

    def counted(self, service_name, *args, **kwargs):
        made.append(service_name)
        return create_client(self, service_name, *args, **kwargs)

    monkeypatch.setattr(Session, "create_client", counted)
    rebind_app()
    reads = [
        lambda: Seller.get("nobody"),
        lambda: Task.get("nobody", "1"),
        lambda: Audit.get("nobody", "1"),
        lambda: Stats.get("nobody", "1"),
        lambda: Control.get("nothing"),
    ]
    start = threading.Barrier(len(reads))

    def first_read(read):
        start.wait()
        try:
            read()
        except DoesNotExist:
            return "missing"
        return "found"

    with ThreadPoolExecutor(len(reads)) as pool:
        answers = list(pool.map(first_read, reads))

    assert answers == ["missing"] * len(reads)
    assert made.count("dynamodb") == 1, made
    clients = {model._get_connection().connection.client for model in (Seller, Task, Audit, Stats, Control)}
    assert len(clients) == 1
    assert container().kept("pynamodb_client", lambda: None) in clients


def test_xray_is_used_only_when_it_records_the_invocation(monkeypatch):
    monkeypatch.delenv("POWERTOOLS_TRACE_DISABLED", raising=False)
    monkeypatch.delenv("AWS_SAM_LOCAL", raising=False)
    monkeypatch.delenv("AWS_CHALICE_CLI_MODE", raising=False)
    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")
    monkeypatch.setenv("_X_AMZN_TRACE_ID", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0")
    assert telemetry.tracing_active() is False
    monkeypatch.setenv("_X_AMZN_TRACE_ID", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
    assert telemetry.tracing_active() is True
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    assert telemetry.tracing_active() is False
    monkeypatch.delenv("POWERTOOLS_TRACE_DISABLED")
    monkeypatch.delenv("LAMBDA_TASK_ROOT")
    assert telemetry.tracing_active() is False  # outside Lambda nothing listens for segments


@pytest.mark.parametrize("sampled", ["Sampled=0", ""])
def test_an_untraced_invocation_runs_without_the_xray_sdk(aws, clock, monkeypatch, sampled):
    from app import sweep_due

    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")
    monkeypatch.setenv("_X_AMZN_TRACE_ID", f"Root=1-5759e988-bd862e3fe1be46a994272793;{sampled}")
    monkeypatch.setattr(telemetry, "_tracer", None)
    already = "aws_xray_sdk" in sys.modules

    sweep_due(scheduled_event(clock.now()), lambda_context("haoping-prod-sweep"))

    assert telemetry._tracer is None
    assert already or "aws_xray_sdk" not in sys.modules


TRACED_FUNCTION = """
import json, sys
from chalicelib import telemetry
from chalicelib.handlers.lambda_entry import SCHEDULED, lambda_entry
from sandbox.lambda_driver import lambda_context, scheduled_event

@lambda_entry(SCHEDULED)
def handle(event, context):
    return {"traced": telemetry.tracer() is not None}

answer = handle(scheduled_event(), lambda_context("haoping-prod-sweep"))
print(json.dumps({**answer, "xray_sdk_loaded": "aws_xray_sdk" in sys.modules}))
"""


@pytest.mark.parametrize(("sampled", "traced"), [("Sampled=1", True), ("Sampled=0", False)])
def test_a_fresh_lambda_container_loads_the_xray_sdk_only_for_a_sampled_invocation(sampled, traced):
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_REGION": "ap-southeast-1",
        "HAOPING_STAGE": "prod",
        "HAOPING_TABLE_PREFIX": "haoping-prod",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",  # nothing listens: the entry point itself calls no AWS
        "LAMBDA_TASK_ROOT": "/var/task",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:9",  # segments are UDP datagrams to this machine, never read
        "_X_AMZN_TRACE_ID": f"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;{sampled}",
    }
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", TRACED_FUNCTION],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"traced": traced, "xray_sdk_loaded": traced}
