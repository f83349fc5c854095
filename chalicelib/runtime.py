"""The per-container runtime, the bottom of the house: settings, clock, AWS clients, secrets, caches and every
piece of per-process state (pools, locks); the logger's configuration alone stays with Python's logging, for the
reasons in ``chalicelib/security/logging.py``.

Built lazily, once per Lambda container, on first use (never at import); ``chalicelib.container.reset()`` forgets
all of it so tests and the local stack can rebuild against a changed environment. Everything a container keeps
between invocations lives in a ``Runtime``, so there is one place to see it and one call to clear it. It imports
nothing of the app but ``config`` and ``sdk_loader`` (a part of its AWS clients): what is built from it
(marketplace clients, token cipher, idempotency) is built one floor up, in ``chalicelib.container``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from functools import cached_property
from typing import Any

from chalicelib.config import Clock, Settings

# Enough pooled connections for a worker that handles a batch's records concurrently (``record_concurrency``
# is at most 32).
AWS_MAX_POOL_CONNECTIONS = 32


class SecretMissing(RuntimeError):
    """A function asked for a secret its deployment does not name (``HAOPING_*_SECRET_ID`` unset)."""


class TtlCache:
    """A small thread-safe map whose entries expire after ``ttl`` seconds (monotonic time)."""

    def __init__(self, ttl: float, *, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._items: dict[Hashable, tuple[float, Any]] = {}
        self._lock = threading.Lock()
        self._loading: dict[Hashable, threading.Lock] = {}

    def get(self, key: Hashable, default: Any = None) -> Any:
        """The fresh value under ``key``, else ``default``."""
        with self._lock:
            hit = self._items.get(key)
            if hit is None:
                return default
            if time.monotonic() - hit[0] >= self.ttl:
                del self._items[key]
                return default
            return hit[1]

    def __contains__(self, key: Hashable) -> bool:
        marker = object()
        return self.get(key, marker) is not marker

    def put(self, key: Hashable, value: Any) -> Any:
        """Store ``value`` under ``key`` (the oldest entry goes when full); returns ``value``."""
        with self._lock:
            if key not in self._items and len(self._items) >= self.max_entries:
                del self._items[next(iter(self._items))]
            self._items[key] = (time.monotonic(), value)
        return value

    def get_or_load(self, key: Hashable, load: Callable[[], Any]) -> Any:
        """The fresh value under ``key``, else ``load()``'s, which is stored (``None`` included); a ``load`` that
        raises stores nothing.

        One load per key at a time: a worker's records start together, and without this each thread that missed
        the same key would load it too (a KMS Decrypt, a table read, a model parsed again). The others wait for
        the first and take its value; loads of other keys go on meanwhile.
        """
        marker = object()
        hit = self.get(key, marker)
        if hit is not marker:
            return hit
        with self._lock:
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:
            try:
                hit = self.get(key, marker)
                return hit if hit is not marker else self.put(key, load())
            finally:
                with self._lock:
                    if self._loading.get(key) is loading:
                        del self._loading[key]

    def pop(self, key: Hashable) -> None:
        """Forget ``key``."""
        with self._lock:
            self._items.pop(key, None)

    def pop_matching(self, predicate: Callable[[Hashable], bool]) -> None:
        """Forget every key ``predicate`` accepts."""
        with self._lock:
            for key in [k for k in self._items if predicate(k)]:
                del self._items[key]

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._items.clear()


# Cache name → seconds an entry stays fresh. Each repository names its cache here, so every staleness the
# system accepts is listed in one place.
CACHE_TTLS: dict[str, float] = {
    "sellers": 60.0,  # settings and entitlement change rarely; a minute of staleness saves a read per review
    "blacklist": 60.0,
    "control": 30.0,  # kill switches take effect within half a minute
    "rules": 60.0,
    "triage": 60.0,  # complaint model and categories: an operator's replacement is in force within a minute
    "extortion_flags": 300.0,  # a new or removed flag is seen by every container within five minutes
    "tokens": 300.0,  # decrypted session keys, kept a few minutes so a revoked grant is not served for long
    "data_keys": 3600.0,  # unwrapped token data keys: one KMS Decrypt per data key and container an hour
}


class Runtime:
    """What one Lambda container builds once and reuses across invocations."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self._lock = threading.RLock()
        self._clients: dict[str, Any] = {}
        self._caches: dict[str, TtlCache] = {}
        self._kept: dict[Hashable, Any] = {}
        self._locks: dict[Hashable, threading.Lock] = {}

    # -- AWS ---------------------------------------------------------------------------------------------------
    @cached_property
    def botocore_session(self):
        """One botocore session for every client, PynamoDB's included: each session parses the service models
        again (about a second for DynamoDB alone), which is cold-start time. Its loader looks only for the app's
        services (``chalicelib.sdk_loader``)."""
        import botocore.session

        from chalicelib import sdk_loader

        session = botocore.session.get_session()
        sdk_loader.install(session)
        return session

    def aws(self, service: str):
        """The container's boto3 client for ``service``; endpoints follow ``AWS_ENDPOINT_URL[_<SERVICE>]``."""
        client = self._clients.get(service)
        if client is not None:
            return client
        with self._lock:
            if service not in self._clients:
                import boto3
                from botocore.config import Config

                session = boto3.session.Session(botocore_session=self.botocore_session)
                self._clients[service] = session.client(
                    service,
                    region_name=self.settings.region,
                    config=Config(max_pool_connections=AWS_MAX_POOL_CONNECTIONS),
                )
            return self._clients[service]

    @cached_property
    def http_pool(self):
        """The container's one HTTP connection pool (the marketplace's clients share it), as many connections
        per host as records a worker handles at once."""
        import urllib3

        return urllib3.PoolManager(num_pools=4, maxsize=self.settings.record_concurrency, retries=False)

    # -- secrets -----------------------------------------------------------------------------------------------
    @property
    def _secrets_provider(self):
        # One provider (and so one cache) per container, even when the first records ask from several threads.
        def build():
            from aws_lambda_powertools.utilities.parameters import SecretsProvider

            return SecretsProvider(boto3_client=self.aws("secretsmanager"))

        return self.kept("secrets_provider", build)

    def secret(self, secret_id: str, *, name: str) -> str:
        """A secret's current value, cached per container for ``secrets_max_age`` seconds."""
        if not secret_id:
            raise SecretMissing(f"{name} is not configured for this function")
        # A worker's records start together: without the lock each thread would miss the empty cache and fetch.
        with self.lock(("secret", secret_id)):
            value = self._secrets_provider.get(secret_id, max_age=self.settings.secrets_max_age)
        if isinstance(value, bytes):
            value = value.decode("utf-8")
        return str(value)

    def app_secret(self) -> str:
        """The marketplace app secret (signs calls, verifies pushes)."""
        return self.secret(self.settings.app_secret_id, name="HAOPING_APP_SECRET_ID")

    def buyer_hash_secret(self) -> bytes:
        """The key of buyer-identity hashes."""
        return self.secret(self.settings.buyer_hash_secret_id, name="HAOPING_BUYER_HASH_SECRET_ID").encode("utf-8")

    def session_secret(self) -> bytes:
        """The key of seller session tokens."""
        return self.secret(self.settings.session_secret_id, name="HAOPING_SESSION_SECRET_ID").encode("utf-8")

    # -- caches --------------------------------------------------------------------------------------------
    def cache(self, name: str) -> TtlCache:
        """The named per-container cache (see ``CACHE_TTLS``)."""
        found = self._caches.get(name)
        if found is None:
            with self._lock:
                found = self._caches.setdefault(name, TtlCache(CACHE_TTLS[name]))
        return found

    def forget_caches(self) -> None:
        """Drop every cached read (the clients stay)."""
        for cache in list(self._caches.values()):
            cache.clear()

    # -- per-process state -------------------------------------------------------------------------------------
    def kept(self, key: Hashable, build: Callable[[], Any]) -> Any:
        """The object kept under ``key`` for this container's life, built by ``build()`` on first use."""
        found = self._kept.get(key, self._kept)
        if found is not self._kept:
            return found
        with self._lock:
            if key not in self._kept:
                self._kept[key] = build()
            return self._kept[key]

    def lock(self, key: Hashable) -> threading.Lock:
        """The container's one lock for ``key`` (one thread at a time does the work it guards)."""
        found = self._locks.get(key)
        if found is None:
            with self._lock:
                found = self._locks.setdefault(key, threading.Lock())
        return found
