"""Lambda's contract: the container is built lazily from validated settings, every function gets its real context
(logged with a correlation id, registered for idempotency), and a function near its deadline takes no new work."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from chalicelib.config import SettingsInvalid, load_settings
from chalicelib.container import container
from chalicelib.services.sellers.seller_tokens import access_token, forget_tokens
from chalicelib.store import sellers, tasks
from sandbox.lambda_driver import LambdaContext, lambda_context, scheduled_event, sqs_event
from tests.helpers import add_market_trade, push, trade_message

ROOT = Path(__file__).resolve().parents[2]
PROD_ENV = {
    "PATH": os.environ.get("PATH", ""),
    "AWS_REGION": "ap-southeast-1",
    "AWS_DEFAULT_REGION": "ap-southeast-1",
    "HAOPING_STAGE": "prod",
    "HAOPING_TABLE_PREFIX": "haoping-prod",
    # Nothing listens here: an import that called AWS would hang or fail.
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
}


def test_a_fresh_prod_interpreter_resolves_table_names_without_any_bind_step():
    code = (
        "import app\n"
        "from chalicelib.handlers import billing, reconcile, sweep, tokens, webhooks, worker\n"
        "from chalicelib import container\n"
        "assert container._current is None, 'importing built the container'\n"
        "from chalicelib.store.models import MODELS\n"
        "print(sorted(m.Meta.table_name for m in MODELS))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=PROD_ENV, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    names = json.loads(done.stdout.strip().replace("'", '"'))
    assert names and all(n.startswith("haoping-prod-") and len(n) > len("haoping-prod-") for n in names)
    assert "haoping-prod-Tasks" in names


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("HAOPING_DUE_SHARDS", "many"),
        ("HAOPING_DUE_SHARDS", "0"),
        ("HAOPING_STAGE", "Prod Stage"),
        ("HAOPING_MARKETPLACE_URL", "gw.api.taobao.com"),
        ("HAOPING_DRY_RUN", "maybe"),
    ],
)
def test_a_malformed_variable_is_named_without_its_value(variable, value):
    with pytest.raises(SettingsInvalid) as caught:
        load_settings({variable: value})
    assert variable in str(caught.value)
    assert value not in str(caught.value)


def test_an_unknown_field_cannot_sneak_in_and_defaults_hold():
    settings = load_settings({})
    assert (settings.stage, settings.due_shards, settings.stage_dry_run) == ("dev", 8, False)
    assert load_settings({"HAOPING_DRY_RUN": ""}).stage_dry_run is False
    assert load_settings({"HAOPING_DRY_RUN": "true"}).stage_dry_run is True


def test_a_secret_the_function_was_not_given_is_a_clear_error(aws, monkeypatch):
    from chalicelib.container import container, reset
    from chalicelib.runtime import SecretMissing

    monkeypatch.setenv("HAOPING_SESSION_SECRET_ID", "")
    reset()
    with pytest.raises(SecretMissing, match="HAOPING_SESSION_SECRET_ID"):
        container().session_secret()
    reset()


def test_secrets_come_from_secrets_manager_not_the_environment(aws):
    assert container().app_secret() == "app-secret-for-tests"
    assert not any("secret-for-tests" in value for value in os.environ.values())


@contextlib.contextmanager
def app_logs():
    """The app's JSON log records written inside the block."""
    from chalicelib.telemetry import logger

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_formatter)
    logger.addHandler(handler)
    records: list[dict] = []
    try:
        yield records
    finally:
        logger.removeHandler(handler)
        records += [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]


def test_a_schedule_gets_its_context_and_its_event_id_as_correlation_id(aws, clock):
    from app import sweep_due
    from chalicelib.telemetry import logger

    context = lambda_context("haoping-prod-sweep")
    event = scheduled_event(clock.now())

    sweep_due(event, context)

    assert container().idempotency_config.lambda_context is context
    assert logger.get_correlation_id() == event["id"]


def _due_jobs(client, aws, clock, market, shop, count: int) -> list[dict]:
    """``count`` trades pushed and due, their review jobs taken off the queue (as SQS would hand them over)."""
    tids = [str(3900000000000700 + 10 * i) for i in range(count)]
    for tid in tids:
        add_market_trade(market, clock, tid)
    push(client, [trade_message(shop, tid, clock.now()) for tid in tids], clock.now())
    clock.advance(60)
    while (
        aws["sqs"]
        .receive_message(QueueUrl=aws["queue_url"], MaxNumberOfMessages=10, VisibilityTimeout=0)
        .get("Messages")
    ):
        aws["sqs"].purge_queue(QueueUrl=aws["queue_url"])
    for tid in tids:
        aws["sqs"].send_message(QueueUrl=aws["queue_url"], MessageBody=json.dumps({"seller_id": shop, "tid": tid}))
    got: list[dict] = []
    while batch := aws["sqs"].receive_message(QueueUrl=aws["queue_url"], MaxNumberOfMessages=10).get("Messages"):
        got += batch
    return sorted(got, key=lambda m: m["Body"])


def test_each_queue_record_is_logged_under_its_own_message_id(client, aws, clock, market, shop):
    from app import review_worker

    jobs = _due_jobs(client, aws, clock, market, shop, 2)
    context = lambda_context("haoping-prod-worker")

    with app_logs() as logged:
        review_worker(sqs_event(jobs, aws["queue_url"]), context)

    records = [r for r in logged if r.get("message") == "review posted"]
    assert {r["correlation_id"] for r in records} == {m["MessageId"] for m in jobs}
    assert all(r["function_name"] == "haoping-prod-worker" for r in records)
    assert container().idempotency_config.lambda_context is context


class RunningOut(LambdaContext):
    """A context whose remaining time follows a script: plenty at first, then almost nothing."""

    def __init__(self, remaining: list[int]):
        super().__init__("haoping-prod-worker")
        self._script = list(remaining)

    def get_remaining_time_in_millis(self) -> int:
        return self._script.pop(0) if len(self._script) > 1 else self._script[0]


def test_a_worker_near_its_deadline_takes_no_new_record_and_hands_them_back(client, aws, clock, market, shop):
    from chalicelib.handlers import worker

    jobs = _due_jobs(client, aws, clock, market, shop, 3)
    assert len(jobs) == 3
    # Deadline set-up, the first record's check, then two seconds left for the rest.
    context = RunningOut([60_000, 60_000, 2_000])

    answer = worker.handle(sqs_event(jobs, aws["queue_url"]), context)

    failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
    assert failed == {m["MessageId"] for m in jobs[1:]}
    states = [tasks.get(shop, json.loads(m["Body"])["tid"]).state for m in jobs]
    assert states[0] == "posted" and states[1:] == ["scheduled", "scheduled"]


def test_decrypted_tokens_are_cached_per_container_and_evicted_on_a_session_error(aws, clock, shop, monkeypatch):
    calls = []
    cipher = container().token_cipher

    class Counting:
        def decrypt(self, blob, *, context):
            calls.append(1)
            return cipher.decrypt(blob, context=context)

    monkeypatch.setitem(vars(container()), "token_cipher", Counting())
    seller = sellers.get(shop)

    first = access_token(seller, now=clock.now())
    second = access_token(seller, now=clock.now())
    forget_tokens(shop)
    third = access_token(seller, now=clock.now())

    assert first == second == third and first
    assert len(calls) == 2
