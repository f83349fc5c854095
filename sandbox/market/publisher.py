"""Pushes marketplace messages to the app's webhook, and a channel that delivers them like a real one.

Signing follows the inbound webhook contract: query params ``app_key``, ``timestamp`` (GMT+8),
``sign_method`` and ``sign``, where ``sign`` covers the sorted query params followed by the raw body.
A publisher made by the marketplace (``SandboxMarketplace.publisher``) withholds what the platform would not deliver:
a seller's messages before the app permitted them (``taobao.tmc.user.permit``).
"""

from __future__ import annotations

import heapq
import itertools
import json
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import urllib3

from chalicelib.marketplace import signing
from chalicelib.marketplace.messages import encode_batch
from chalicelib.marketplace.models import format_top_time

TRANSPORT_FAILURE = 0  # status reported when the app could not be reached
NOTHING_SENT = 204  # status reported when every message of a batch was withheld (no request was made)


class Publisher:
    """Signs and POSTs message batches to ``{app_url}{path}``."""

    def __init__(
        self,
        app_url: str,
        app_key: str,
        app_secret: str,
        clock: Callable[[], datetime],
        *,
        path: str = "/webhooks/marketplace",
        sign_method: str = "md5",
        pool: urllib3.PoolManager | None = None,
        timeout: float = 10.0,
        deliverable: Callable[[dict], bool] | None = None,
    ) -> None:
        self._url = app_url.rstrip("/") + path
        self._deliverable = deliverable
        self.withheld = 0  # messages never sent because the platform would not deliver them
        self._app_key = app_key
        self._secret = app_secret
        self.clock = clock
        self._sign_method = sign_method
        self._pool = pool or urllib3.PoolManager(retries=False)
        self._timeout = timeout

    def signed_query(self, body: bytes) -> dict[str, str]:
        """The query params that authenticate ``body``."""
        query = {
            "app_key": self._app_key,
            "timestamp": format_top_time(self.clock()),
            "sign_method": self._sign_method,
        }
        query["sign"] = signing.sign(query, self._secret, self._sign_method, body=body)
        return query

    def deliverable(self, messages: list[dict]) -> list[dict]:
        """The messages the platform would deliver; the others are counted in ``withheld`` and dropped."""
        kept = [m for m in messages if self._deliverable is None or self._deliverable(m)]
        self.withheld += len(messages) - len(kept)
        return kept

    def push(self, messages: list[dict]) -> tuple[int, Any]:
        """Deliver one batch; returns (HTTP status, decoded JSON or None). Status 0 when unreachable, 204 with an
        empty result list when every message was withheld."""
        messages = self.deliverable(messages)
        if not messages:
            return NOTHING_SENT, {"results": []}
        body = encode_batch(messages)
        url = f"{self._url}?{urlencode(self.signed_query(body))}"
        try:
            response = self._pool.request(
                "POST",
                url,
                body=body,
                headers={"Content-Type": "application/json;charset=utf-8"},
                timeout=self._timeout,
                retries=False,
            )
        except (urllib3.exceptions.HTTPError, OSError):
            return TRANSPORT_FAILURE, None
        try:
            return response.status, json.loads(response.data)
        except ValueError:
            return response.status, None


@dataclass(order=True)
class _Pending:
    due: datetime
    seq: int
    message: dict = field(compare=False)


@dataclass
class ChannelStats:
    offered: int = 0
    dropped: int = 0
    duplicated: int = 0
    delivered: int = 0
    redelivered: int = 0


class PushChannel:
    """Delivers offered messages late, more than once (``copies`` in all), out of order or never, as a real
    push channel may.

    A batch answered with a non-2xx status (or not at all) is offered again ``retry_seconds`` later;
    ``failed_ids`` can name messages of a 2xx answer that must be redelivered too.
    """

    def __init__(
        self,
        publisher: Publisher,
        rng: random.Random,
        *,
        duplicate_rate: float = 0.0,
        copies: int = 2,
        reorder: bool = False,
        drop_rate: float = 0.0,
        delay_max_seconds: float = 0.0,
        batch_size: int = 50,
        retry_seconds: float = 60.0,
        failed_ids: Callable[[Any], Iterable[str]] | None = None,
    ) -> None:
        self._publisher = publisher
        self._rng = rng
        self._duplicate_rate = duplicate_rate
        self._copies = copies
        self._reorder = reorder
        self._drop_rate = drop_rate
        self._delay_max = delay_max_seconds
        self._batch_size = batch_size
        self._retry = timedelta(seconds=retry_seconds)
        self._failed_ids = failed_ids
        self._queue: list[_Pending] = []
        self._seq = itertools.count()
        self.stats = ChannelStats()

    @property
    def dropped(self) -> int:
        """Messages the channel lost on purpose."""
        return self.stats.dropped

    @property
    def pending(self) -> int:
        """Messages waiting for delivery."""
        return len(self._queue)

    def _enqueue(self, message: dict, due: datetime) -> None:
        heapq.heappush(self._queue, _Pending(due, next(self._seq), message))

    def _delay(self) -> timedelta:
        return timedelta(seconds=self._rng.uniform(0, self._delay_max)) if self._delay_max else timedelta()

    def offer(self, messages: Iterable[dict]) -> None:
        """Accept messages for delivery at ``clock() + random delay``, dropping or duplicating some; what the
        platform would not deliver at all (an unpermitted seller's) is withheld now."""
        now = self._publisher.clock()
        for message in self._publisher.deliverable(list(messages)):
            self.stats.offered += 1
            if self._drop_rate and self._rng.random() < self._drop_rate:
                self.stats.dropped += 1
                continue
            self._enqueue(message, now + self._delay())
            if self._duplicate_rate and self._rng.random() < self._duplicate_rate:
                for _ in range(self._copies - 1):
                    self.stats.duplicated += 1
                    self._enqueue(message, now + self._delay())

    def flush(self, now: datetime) -> list[tuple[int, Any]]:
        """Push every message due by ``now`` in batches; returns each batch's (status, json)."""
        due: list[dict] = []
        while self._queue and self._queue[0].due <= now:
            due.append(heapq.heappop(self._queue).message)
        if self._reorder:
            self._rng.shuffle(due)
        results = []
        for start in range(0, len(due), self._batch_size):
            batch = due[start : start + self._batch_size]
            status, answer = self._publisher.push(batch)
            results.append((status, answer))
            retry = self._to_retry(batch, status, answer)
            self.stats.delivered += len(batch) - len(retry)
            for message in retry:
                self.stats.redelivered += 1
                self._enqueue(message, now + self._retry)
        return results

    def _to_retry(self, batch: list[dict], status: int, answer: Any) -> list[dict]:
        if not 200 <= status < 300:
            return batch
        if self._failed_ids is None:
            return []
        failed = {str(i) for i in self._failed_ids(answer)}
        return [m for m in batch if str(m.get("id")) in failed]
