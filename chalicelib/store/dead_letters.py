"""The review queue's dead-letter queue: find it from the redrive policy, move its messages back safely."""

from __future__ import annotations

import json
from dataclasses import dataclass

from chalicelib.container import container

BATCH = 10  # SQS's receive/send/delete batch limit
# Received messages stay hidden this long: time enough to re-send and delete them, short enough that a
# crashed redrive gives them back to the dead-letter queue soon.
VISIBILITY_SECONDS = 60


@dataclass(frozen=True)
class Redriven:
    """What one redrive did: messages moved back, and messages left in the dead-letter queue after errors."""

    moved: int
    failed: int


def queue_url(name: str) -> str:
    """The URL of the queue called ``name`` in this account and region."""
    return container().aws("sqs").get_queue_url(QueueName=name)["QueueUrl"]


def dead_letter_url(source_url: str) -> str | None:
    """The dead-letter queue named by ``source_url``'s redrive policy (None when it has none)."""
    sqs = container().aws("sqs")
    attributes = sqs.get_queue_attributes(QueueUrl=source_url, AttributeNames=["RedrivePolicy"]).get("Attributes", {})
    policy = attributes.get("RedrivePolicy")
    if not policy:
        return None
    arn = json.loads(policy)["deadLetterTargetArn"]
    _, _, _, _, account, name = arn.split(":", 5)
    return sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]


def depth(url: str) -> int:
    """Approximate number of visible messages in a queue."""
    attributes = (
        container().aws("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    )
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def redrive(dlq_url: str, target_url: str, *, max_messages: int) -> Redriven:
    """Move up to ``max_messages`` from ``dlq_url`` to ``target_url``: receive, send, then delete.

    A message is deleted from the dead-letter queue only after the target accepted it, so a failure at
    any step leaves it where it was (at worst it is sent twice; review jobs are idempotent).
    """
    sqs = container().aws("sqs")
    moved = failed = 0
    while moved + failed < max_messages:
        got = sqs.receive_message(
            QueueUrl=dlq_url,
            MaxNumberOfMessages=min(BATCH, max_messages - moved - failed),
            VisibilityTimeout=VISIBILITY_SECONDS,
            MessageAttributeNames=["All"],
            WaitTimeSeconds=0,
        ).get("Messages", [])
        if not got:
            break
        entries = []
        for i, message in enumerate(got):
            entry = {"Id": str(i), "MessageBody": message["Body"]}
            if message.get("MessageAttributes"):
                entry["MessageAttributes"] = message["MessageAttributes"]
            entries.append(entry)
        sent = sqs.send_message_batch(QueueUrl=target_url, Entries=entries)
        accepted = {item["Id"] for item in sent.get("Successful", [])}
        done = [
            {"Id": str(i), "ReceiptHandle": message["ReceiptHandle"]}
            for i, message in enumerate(got)
            if str(i) in accepted
        ]
        if done:
            sqs.delete_message_batch(QueueUrl=dlq_url, Entries=done)
        moved += len(done)
        failed += len(got) - len(done)
    return Redriven(moved, failed)
