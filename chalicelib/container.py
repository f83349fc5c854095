"""The container: the runtime (``chalicelib.runtime``) and what is built from it for the code above — the TOP and
OAuth clients, the token cipher, the idempotency layer — in this one place.

Code reaches all of it one way: ``container()`` (``container().settings``, ``.clock``, ``.aws("sqs")``,
``.cache("sellers")``, ``.top()``, ``.token_cipher`` …). Built lazily, once per Lambda container, on first use
(never at import); ``reset()`` forgets all of it so tests and the local stack can rebuild against a changed
environment.
"""

from __future__ import annotations

import threading
from functools import cached_property

from chalicelib.config import clock, load_settings
from chalicelib.runtime import Runtime

IDEMPOTENCY_TABLE = "Idempotency"
# A completed once-key is remembered for 40 days: far longer than a cause can come again — a pushed message is
# redelivered for days, not weeks, reconciliation looks back two days, and keys of later causes name them
# (a reminder's key carries its paid_until, a pause's its market hour). A key forgotten after that could only
# repeat one alert, never a marketplace write. (An in-progress record is bounded by the invocation's deadline
# instead: every invocation registers its Lambda context, so a run that timed out mid-effect lets the
# redelivery run it again.)
EXPIRES_AFTER_SECONDS = 40 * 24 * 3600


class Container(Runtime):
    """The runtime plus the marketplace clients, the token cipher and the idempotency layer built on it."""

    # -- marketplace -------------------------------------------------------------------------------------------
    def top(self):
        """The TOP client on the container's HTTP pool (rebuilt when the app secret rotates)."""
        from chalicelib.marketplace.client import TopClient

        secret = self.app_secret()
        s = self.settings
        return self.kept(
            ("top", secret),
            lambda: TopClient(s.marketplace_url, s.app_key, secret, now=self.clock.now, pool=self.http_pool),
        )

    def oauth(self):
        """The OAuth client on the container's HTTP pool (rebuilt when the app secret rotates)."""
        from chalicelib.marketplace.oauth import OAuthClient

        secret = self.app_secret()
        s = self.settings
        return self.kept(
            ("oauth", secret),
            lambda: OAuthClient(s.oauth_url, s.app_key, secret, now=self.clock.now, pool=self.http_pool),
        )

    def robots(self):
        """The group robots' client (DingTalk, WeCom) on the container's HTTP pool."""
        from chalicelib.marketplace.robots import RobotClient

        s = self.settings
        return self.kept(
            "robots",
            lambda: RobotClient(
                dingtalk_url=s.dingtalk_robot_url, wecom_url=s.wecom_robot_url, now=self.clock.now, pool=self.http_pool
            ),
        )

    @cached_property
    def token_cipher(self):
        """Encrypts seller tokens under the month's data key, wrapped by the stage's KMS key."""
        from chalicelib.security.crypto import TokenCipher
        from chalicelib.store.data_keys import DataKeys

        return TokenCipher(
            self.aws("kms"),
            self.settings.kms_key_id,
            shared=DataKeys(),
            keys=self.cache("data_keys"),
            now=self.clock.now,
        )

    # -- once-only effects -------------------------------------------------------------------------------------
    @cached_property
    def idempotency_config(self):
        """powertools idempotency config; each invocation registers its Lambda context on it."""
        from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

        return IdempotencyConfig(expires_after_seconds=EXPIRES_AFTER_SECONDS)

    @cached_property
    def idempotency_store(self):
        """powertools' DynamoDB persistence layer on the stage's Idempotency table."""
        from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

        return DynamoDBPersistenceLayer(
            table_name=self.settings.table(IDEMPOTENCY_TABLE), boto3_client=self.aws("dynamodb")
        )

    def begin_invocation(self, lambda_context) -> None:
        """Per invocation: bound in-progress idempotency records by this invocation's deadline."""
        if lambda_context is not None and hasattr(lambda_context, "get_remaining_time_in_millis"):
            self.idempotency_config.register_lambda_context(lambda_context)


_current: Container | None = None
_build_lock = threading.Lock()


def container() -> Container:
    """This container's runtime, built on first use from the environment (settings validated then)."""
    global _current
    found = _current
    if found is not None:
        return found
    with _build_lock:
        if _current is None:
            _current = Container(load_settings(), clock)
        return _current


def reset() -> None:
    """Forget the container (clients, pools, locks, caches, secrets, settings); the next use rebuilds it from the
    environment."""
    global _current
    with _build_lock:
        _current = None
