"""What AWS does around the functions, played locally: the Lambda context, the documented event shapes, and
Lambda's SQS event source mapping (poll a batch, invoke, delete what succeeded). One driver for the local stack,
the bench stack and the tests.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from chalicelib.config import DEFAULT_REGION as REGION

ACCOUNT = "123456789012"
BATCH = 10  # the SQS event source's batch size in the template, and SQS's receive limit


class LambdaContext:
    """What Lambda hands a function with each event: identity, memory and a deadline counting down in real time."""

    def __init__(self, function_name: str = "haoping-local", *, timeout_seconds: float = 60.0, memory_mb: int = 512):
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function_name}"
        self.memory_limit_in_mb = memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before this invocation's deadline."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def lambda_context(function_name: str = "haoping-local", *, timeout_seconds: float = 60.0) -> LambdaContext:
    """A fresh Lambda context for one invocation (the template's 60 s timeout by default)."""
    return LambdaContext(function_name, timeout_seconds=timeout_seconds)


def scheduled_event(
    now: datetime | None = None, *, rule_arn: str | None = None, region: str = REGION, account: str = ACCOUNT
) -> dict:
    """An EventBridge scheduled event as Lambda receives it (at ``now``, the wall clock's by default)."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule_arn or f"arn:aws:events:{region}:{account}:rule/haoping-dev-sweep"],
        "detail": {},
    }


# The message attributes the event source mapping hands on (a ``ReceiveMessage`` with all attributes has more).
SQS_RECORD_ATTRIBUTES = (
    "ApproximateReceiveCount",
    "SentTimestamp",
    "SenderId",
    "ApproximateFirstReceiveTimestamp",
    "SequenceNumber",
    "MessageGroupId",
    "MessageDeduplicationId",
    "AWSTraceHeader",
)


def sqs_event(
    messages: list[dict], queue_url: str | None = None, *, queue_arn: str | None = None, region: str = REGION
) -> dict:
    """An SQS event as Lambda's event source mapping delivers it, from ``ReceiveMessage`` results; the queue is
    named by its URL or its ARN."""
    arn = queue_arn or f"arn:aws:sqs:{region}:{ACCOUNT}:" + str(queue_url).rsplit("/", 1)[-1]
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {k: v for k, v in m.get("Attributes", {}).items() if k in SQS_RECORD_ATTRIBUTES},
                "messageAttributes": {
                    name: {
                        "stringValue": value.get("StringValue"),
                        "binaryValue": (
                            base64.b64encode(value["BinaryValue"]).decode() if "BinaryValue" in value else None
                        ),
                        "stringListValues": value.get("StringListValues", []),
                        "binaryListValues": value.get("BinaryListValues", []),
                        "dataType": value["DataType"],
                    }
                    for name, value in m.get("MessageAttributes", {}).items()
                },
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": arn,
                "awsRegion": region,
            }
            for m in messages
        ]
    }


@dataclass
class Delivery:
    """One poll of an event source mapping: what was received, deleted and left for redelivery."""

    received: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    raised: bool = False
    kept_receipts: list[str] = field(default_factory=list)


def deliver_batch(
    sqs,
    queue_url: str,
    invoke: Callable[[dict], dict | None],
    *,
    report_batch_item_failures: bool = True,
    visibility_timeout: int | None = 0,
) -> Delivery:
    """Receive a batch, invoke the function with it, and delete what Lambda would delete.

    Lambda deletes every record of an invocation that returned, unless the mapping sets
    ``FunctionResponseTypes: [ReportBatchItemFailures]``; then the records the response names in
    ``batchItemFailures`` stay. An invocation that raised leaves every record. Records left are delivered
    again after ``visibility_timeout`` seconds (0: at the next poll; None: the queue's own timeout), and go to
    the dead-letter queue once received more than the queue's ``maxReceiveCount`` times.
    """
    options = {} if visibility_timeout is None else {"VisibilityTimeout": visibility_timeout}
    got = sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=BATCH, AttributeNames=["All"], WaitTimeSeconds=0, **options
    ).get("Messages", [])
    ids = [m["MessageId"] for m in got]
    if not got:
        return Delivery()
    try:
        response = invoke(sqs_event(got, queue_url)) or {}
    except Exception:
        return Delivery(ids, [], ids, raised=True, kept_receipts=[m["ReceiptHandle"] for m in got])
    failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
    keep = failed if report_batch_item_failures else set()
    done = [m for m in got if m["MessageId"] not in keep]
    if done:
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)]
        sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)
    kept = [m for m in got if m["MessageId"] in keep]
    receipts = [m["ReceiptHandle"] for m in kept]
    return Delivery(ids, [m["MessageId"] for m in done], [m["MessageId"] for m in kept], kept_receipts=receipts)


def drain(sqs, queue_url: str, invoke: Callable[[dict], dict | None], *, max_batches: int = 1000) -> Delivery:
    """Deliver a queue's batches to its function until it is empty; returns what happened, summed.

    Records the function failed stay invisible for the rest of this drain (the queue's visibility timeout) and
    are made visible again at its end, as after that timeout — which runs in real time while a local stack's
    clock is simulated.
    """
    total = Delivery()
    for _ in range(max_batches):
        one = deliver_batch(sqs, queue_url, invoke, visibility_timeout=None)
        if not one.received:
            break
        total.received += one.received
        total.deleted += one.deleted
        total.kept += one.kept
        total.kept_receipts += one.kept_receipts
        total.raised = total.raised or one.raised
    for start in range(0, len(total.kept_receipts), BATCH):
        entries = [
            {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0}
            for i, h in enumerate(total.kept_receipts[start : start + BATCH])
        ]
        sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)
    return total
