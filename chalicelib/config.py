"""Settings read once from the environment, and the marketplace rules document loader."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    """Everything a function needs to know about its deployment, typed, read once per container."""

    stage: str = "dev"
    region: str = "ap-southeast-1"
    aws_endpoint: str | None = None
    table_prefix: str = "haoping-dev"
    review_queue_url: str = ""
    reconcile_queue_url: str = ""
    alerts_topic_arn: str = ""
    kms_key_id: str = ""
    due_shards: int = 8
    marketplace_url: str = "https://gw.api.taobao.com"
    oauth_url: str = "https://oauth.taobao.com"
    app_key: str = ""
    app_secret: str = field(default="", repr=False)
    article_code: str = "FW_GOODS-1000000"
    buyer_hash_secret: str = field(default="", repr=False)
    session_secret: str = field(default="", repr=False)
    stage_dry_run: bool = False
    public_url: str = ""

    def table(self, name: str) -> str:
        """Physical table name of a logical table (``Tasks`` → ``haoping-dev-Tasks``)."""
        return f"{self.table_prefix}-{name}"


def _env_bool(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Build settings from an environment mapping (``os.environ`` by default)."""
    e = os.environ if env is None else env
    return Settings(
        stage=e.get("HAOPING_STAGE", "dev"),
        region=e.get("AWS_REGION") or e.get("AWS_DEFAULT_REGION") or "ap-southeast-1",
        aws_endpoint=e.get("HAOPING_AWS_ENDPOINT") or None,
        table_prefix=e.get("HAOPING_TABLE_PREFIX", "haoping-dev"),
        review_queue_url=e.get("HAOPING_REVIEW_QUEUE_URL", ""),
        reconcile_queue_url=e.get("HAOPING_RECONCILE_QUEUE_URL", ""),
        alerts_topic_arn=e.get("HAOPING_ALERTS_TOPIC_ARN", ""),
        kms_key_id=e.get("HAOPING_KMS_KEY_ID", ""),
        due_shards=int(e.get("HAOPING_DUE_SHARDS", "8")),
        marketplace_url=e.get("HAOPING_MARKETPLACE_URL", "https://gw.api.taobao.com"),
        oauth_url=e.get("HAOPING_OAUTH_URL", "https://oauth.taobao.com"),
        app_key=e.get("HAOPING_APP_KEY", ""),
        app_secret=e.get("HAOPING_APP_SECRET", ""),
        article_code=e.get("HAOPING_ARTICLE_CODE", "FW_GOODS-1000000"),
        buyer_hash_secret=e.get("HAOPING_BUYER_HASH_SECRET", ""),
        session_secret=e.get("HAOPING_SESSION_SECRET", ""),
        stage_dry_run=_env_bool("HAOPING_DRY_RUN"),
        public_url=e.get("HAOPING_PUBLIC_URL", ""),
    )


@cache
def get_settings() -> Settings:
    """The container's settings (cached; tests call ``get_settings.cache_clear()`` after changing env)."""
    return load_settings()


RULES_DEFAULT_PATH = Path(__file__).with_name("rules_default.json")


@cache
def default_rules_document() -> dict:
    """The shipped rules document; the Control table may override parts of it at run time."""
    return json.loads(RULES_DEFAULT_PATH.read_text(encoding="utf-8"))


class Clock:
    """The edge's source of time. Deployed it is the wall clock; the local stack swaps in a simulated one."""

    def __init__(self) -> None:
        self._source = None

    def now(self) -> datetime:
        """Current time, timezone-aware UTC."""
        return self._source() if self._source else datetime.now(UTC)

    def use(self, source) -> None:
        """Replace the time source (``None`` restores the wall clock)."""
        self._source = source


clock = Clock()
