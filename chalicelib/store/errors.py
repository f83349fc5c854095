"""The errors a store call raises when AWS fails it (throttling, a lost connection): transient for its caller, who
leaves the work to the queue's next delivery rather than deciding anything about it."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import PynamoDBException

UNAVAILABLE: tuple[type[Exception], ...] = (PynamoDBException, BotoCoreError, ClientError, OSError)
