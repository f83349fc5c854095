"""Shared fixtures: an isolated AWS (moto in-process, or HAOPING_AWS_ENDPOINT), provisioned like the stack."""

from __future__ import annotations

import json
import os
import secrets
from datetime import UTC, datetime

import pytest
from hypothesis import settings

from sandbox.market.clock import FakeClock

# Shared, noisy machines: hypothesis judges correctness here, never speed.
settings.register_profile("haoping", deadline=None, max_examples=60)
settings.load_profile("haoping")

START = datetime(2026, 11, 11, 2, 0, tzinfo=UTC)  # 10:00 market time


def _base_env(endpoint: str | None) -> dict[str, str]:
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "ap-southeast-1",
        "AWS_REGION": "ap-southeast-1",
        "HAOPING_STAGE": "test",
        "HAOPING_TABLE_PREFIX": f"haoping-t{secrets.token_hex(3)}",
        "HAOPING_DUE_SHARDS": "4",
        "HAOPING_APP_KEY": "12345678",
        "HAOPING_APP_SECRET": "app-secret-for-tests",
        "HAOPING_BUYER_HASH_SECRET": "buyer-hash-secret-for-tests",
        "HAOPING_SESSION_SECRET": "session-secret-for-tests",
        "POWERTOOLS_METRICS_NAMESPACE": "haoping",
        "HAOPING_DRY_RUN": "",
    }
    if endpoint:
        env["HAOPING_AWS_ENDPOINT"] = endpoint
    return env


@pytest.fixture
def clock() -> FakeClock:
    """The simulated clock, also used by the app (``chalicelib.config.clock``)."""
    from chalicelib.config import clock as app_clock

    fake = FakeClock(START)
    app_clock.use(fake.now)
    yield fake
    app_clock.use(None)


@pytest.fixture
def aws_endpoint() -> str | None:
    """Where the store runs: HAOPING_AWS_ENDPOINT when set, else moto in-process (None)."""
    return os.environ.get("HAOPING_AWS_ENDPOINT")


@pytest.fixture
def aws(monkeypatch, clock, aws_endpoint):
    """Tables, queues, a KMS key and the alerts topic on moto (or on HAOPING_AWS_ENDPOINT when set)."""
    import boto3
    from moto import mock_aws

    from sandbox.stack import rebind_app

    endpoint = aws_endpoint
    for key, value in _base_env(endpoint).items():
        monkeypatch.setenv(key, value)
    mock = None if endpoint else mock_aws()
    if mock:
        mock.start()
    try:
        rebind_app()
        from chalicelib.store.binding import create_tables

        create_tables()
        region = "ap-southeast-1"
        sqs = boto3.client("sqs", region_name=region, endpoint_url=endpoint)
        prefix = os.environ["HAOPING_TABLE_PREFIX"]
        dlq = sqs.create_queue(QueueName=f"{prefix}-reviews-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        queue = sqs.create_queue(
            QueueName=f"{prefix}-reviews",
            Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"})},
        )["QueueUrl"]
        key_id = boto3.client("kms", region_name=region, endpoint_url=endpoint).create_key()["KeyMetadata"]["KeyId"]
        topic = boto3.client("sns", region_name=region, endpoint_url=endpoint).create_topic(Name=f"{prefix}-alerts")[
            "TopicArn"
        ]
        monkeypatch.setenv("HAOPING_REVIEW_QUEUE_URL", queue)
        monkeypatch.setenv("HAOPING_KMS_KEY_ID", key_id)
        monkeypatch.setenv("HAOPING_ALERTS_TOPIC_ARN", topic)
        rebind_app()
        yield {"queue_url": queue, "dlq_url": dlq, "sqs": sqs, "topic": topic}
    finally:
        if mock:
            mock.stop()
        rebind_app()
