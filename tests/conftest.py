"""Shared fixtures: an isolated AWS (moto in-process, or the standard AWS_ENDPOINT_URL), provisioned like the stack.

With ``HAOPING_DDB_LOCAL`` set (``make test-ddblocal``), DynamoDB is Amazon's DynamoDB Local instead, started for the
session (``tests.ddb_local``); the other services stay on moto in-process.
"""

from __future__ import annotations

import os
import secrets
from datetime import UTC, datetime

import pytest
from hypothesis import settings

from sandbox import moto_atomic
from sandbox.market.clock import FakeClock

# Shared, noisy machines: hypothesis judges correctness here, never speed.
settings.register_profile("haoping", deadline=None, max_examples=60)
settings.load_profile("haoping")

START = datetime(2026, 11, 11, 2, 0, tzinfo=UTC)  # 10:00 market time


def _base_env() -> dict[str, str]:
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "ap-southeast-1",
        "AWS_REGION": "ap-southeast-1",
        "HAOPING_STAGE": "test",
        "HAOPING_TABLE_PREFIX": f"haoping-t{secrets.token_hex(3)}",
        "HAOPING_DUE_SHARDS": "4",
        "HAOPING_APP_KEY": APP_KEY,
        "POWERTOOLS_METRICS_NAMESPACE": "haoping",
        "HAOPING_DRY_RUN": "",
        # No test reaches a real group robot: unless a test starts the sandbox's, robots are a closed local port.
        "HAOPING_DINGTALK_ROBOT_URL": "http://127.0.0.1:9/robot/send",
        "HAOPING_WECOM_ROBOT_URL": "http://127.0.0.1:9/cgi-bin/webhook/send",
        "HAOPING_ROBOTS_LOCAL_HTTP": "1",
    }
    return env


APP_KEY = "12345678"
# The secrets the app reads from Secrets Manager in tests, by the template's logical ids.
TEST_SECRETS = {
    "AppSecret": "app-secret-for-tests",
    "BuyerHashSecret": "buyer-hash-secret-for-tests",
    "SessionSecret": "session-secret-for-tests",
}


@pytest.fixture
def clock() -> FakeClock:
    """The simulated clock, also used by the app (``chalicelib.config.clock``)."""
    from chalicelib.config import clock as app_clock

    fake = FakeClock(START)
    app_clock.use(fake.now)
    yield fake
    app_clock.use(None)


def pytest_collection_modifyitems(config, items):
    """In the DynamoDB Local run only the tests that use the store run again: the others would repeat themselves."""
    from tests import ddb_local as local

    if local.requested() is None:
        return
    kept = [item for item in items if "aws" in getattr(item, "fixturenames", ())]
    config.hook.pytest_deselected(items=[item for item in items if item not in kept])
    items[:] = kept


@pytest.fixture(scope="session")
def ddb_local():
    """The session's DynamoDB Local endpoint when ``HAOPING_DDB_LOCAL`` asks for it, else None."""
    from tests import ddb_local as local

    emulator = local.requested()
    if emulator is None:
        yield None
        return
    try:
        server = local.start(emulator)
    except local.Unavailable as exc:
        pytest.skip(f"DynamoDB Local run skipped: {exc}")
    try:
        yield server.endpoint
    finally:
        server.stop()


@pytest.fixture
def aws_endpoint() -> str | None:
    """Where AWS runs: the standard AWS_ENDPOINT_URL when set, else moto in-process (None)."""
    return os.environ.get("AWS_ENDPOINT_URL")


class _PathsOnce(list):
    """A loader's search paths, each kept once: boto3 adds its own data path for every boto3 session it makes."""

    def append(self, path) -> None:
        if path not in self:
            super().append(path)


@pytest.fixture(scope="session")
def service_models_parsed_once():
    """Every botocore session of the test run shares one data loader, so AWS's service models (JSON shipped with
    botocore, the same for every session) are parsed once per run instead of once per test: the app builds a new
    session with each container (``rebind_app``), as a new Lambda container would."""
    import botocore.loaders
    import botocore.session

    loader = botocore.loaders.Loader(extra_search_paths=_PathsOnce())
    make_session = botocore.session.get_session

    def get_session(env_vars=None):
        session = make_session(env_vars)
        session.register_component("data_loader", loader)
        return session

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(botocore.session, "get_session", get_session)
        yield


@pytest.fixture(scope="session")
def provisioned_moto(service_models_parsed_once):
    """The template's resources provisioned once per session on moto in-process, kept as a snapshot of moto's
    state that the ``aws`` fixture copies back for each test (provisioning is most of a test's setup)."""
    from tests.moto_snapshot import provisioned

    env = _base_env()
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        yield provisioned(env, app_key=APP_KEY, secret_values=TEST_SECRETS)


@pytest.fixture
def aws(request, monkeypatch, clock, aws_endpoint, ddb_local, service_models_parsed_once):
    """The template's tables, queues, key, topic and secrets on moto (or on AWS_ENDPOINT_URL when set; DynamoDB on
    DynamoDB Local in the ``make test-ddblocal`` run). On moto in-process each test starts from a fresh copy of the
    session's provisioned state, as if the stack had just been created for it."""
    import boto3
    from moto import mock_aws

    from sandbox.provision import REGION, provision_local
    from sandbox.stack import rebind_app
    from tests.ddb_local import drop_tables

    endpoint = aws_endpoint
    fresh = None if endpoint or ddb_local else request.getfixturevalue("provisioned_moto")
    for key, value in (fresh.base_env if fresh else _base_env()).items():
        monkeypatch.setenv(key, value)
    if endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    elif ddb_local:
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", ddb_local)
    moto_atomic.install()
    mock = None if endpoint else mock_aws()
    if mock:
        mock.start()
        _one_dynamodb_request_at_a_time(monkeypatch)
    try:
        if fresh:
            local = fresh.restore()
        else:
            stage = os.environ["HAOPING_TABLE_PREFIX"].removeprefix("haoping-")
            local = provision_local(
                stage,
                endpoint=endpoint,
                app_key=APP_KEY,
                app_secret=TEST_SECRETS["AppSecret"],
                secret_values=TEST_SECRETS,
            )
        for key, value in local.env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("HAOPING_PUBLIC_URL", "")
        rebind_app()
        sqs = boto3.client("sqs", region_name=REGION, endpoint_url=endpoint)
        yield {
            "queue_url": local.review_queue_url,
            "dlq_url": local.review_dlq_url,
            "sqs": sqs,
            "topic": local.topic_arn,
        }
    finally:
        if mock:
            mock.stop()
        if ddb_local and not endpoint:
            drop_tables(ddb_local, os.environ["HAOPING_TABLE_PREFIX"], REGION)
        rebind_app()


def _one_dynamodb_request_at_a_time(monkeypatch) -> None:
    """DynamoDB applies each request atomically; moto in-process takes no lock, so two threads of a worker could
    interleave inside one conditional write (both pass the condition), which the service never allows. Serialize
    moto's handling of each request; threads still race between requests, where the app's code interleaves."""
    import threading

    from moto.dynamodb.responses import DynamoHandler

    lock = threading.Lock()
    handle = DynamoHandler.call_action

    def atomic(self):
        with lock:
            return handle(self)

    monkeypatch.setattr(DynamoHandler, "call_action", atomic)
