"""Settings validated once from the environment, the marketplace rules document loader, and the clock.

Secrets are not settings: the environment names where they live (``HAOPING_*_SECRET_ID``, a Secrets Manager
id), and the container reads them through powertools parameters (``chalicelib.container``).
AWS endpoints are not settings either: botocore reads the standard ``AWS_ENDPOINT_URL`` and
``AWS_ENDPOINT_URL_<SERVICE>`` variables itself.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

# Environment variable → settings field. Only these are read; the template sets them per function.
ENV_FIELDS: dict[str, str] = {
    "HAOPING_STAGE": "stage",
    "HAOPING_TABLE_PREFIX": "table_prefix",
    "HAOPING_REVIEW_QUEUE_URL": "review_queue_url",
    "HAOPING_RECONCILE_QUEUE_URL": "reconcile_queue_url",
    "HAOPING_BACKFILL_QUEUE_URL": "backfill_queue_url",
    "HAOPING_TOKENS_QUEUE_URL": "tokens_queue_url",
    "HAOPING_BILLING_QUEUE_URL": "billing_queue_url",
    "HAOPING_RECORD_CONCURRENCY": "record_concurrency",
    "HAOPING_ALERTS_TOPIC_ARN": "alerts_topic_arn",
    "HAOPING_KMS_KEY_ID": "kms_key_id",
    "HAOPING_DUE_SHARDS": "due_shards",
    "HAOPING_MARKETPLACE_URL": "marketplace_url",
    "HAOPING_OAUTH_URL": "oauth_url",
    "HAOPING_APP_KEY": "app_key",
    "HAOPING_ARTICLE_CODE": "article_code",
    "HAOPING_APP_SECRET_ID": "app_secret_id",
    "HAOPING_BUYER_HASH_SECRET_ID": "buyer_hash_secret_id",
    "HAOPING_SESSION_SECRET_ID": "session_secret_id",
    "HAOPING_SECRETS_MAX_AGE": "secrets_max_age",
    "HAOPING_DRY_RUN": "stage_dry_run",
    "HAOPING_PUBLIC_URL": "public_url",
    "HAOPING_FRAME_ANCESTORS": "frame_ancestors",
    "HAOPING_DINGTALK_ROBOT_URL": "dingtalk_robot_url",
    "HAOPING_WECOM_ROBOT_URL": "wecom_robot_url",
    "HAOPING_ROBOTS_LOCAL_HTTP": "robots_local_http",
    "HAOPING_SERVICE_LISTING_URL": "service_listing_url",
}
_FIELD_ENV = {field: env for env, field in ENV_FIELDS.items()}
# What the template gives every deployed function (its ``Globals``): inside Lambda a missing one is a broken
# deployment, refused when the container is built rather than found at the first send, encrypt or alert. (The
# secrets' ids are per function, and each function is refused the first time it asks for one it was not given.)
DEPLOYED_REQUIRED = (
    "HAOPING_REVIEW_QUEUE_URL",
    "HAOPING_RECONCILE_QUEUE_URL",
    "HAOPING_BACKFILL_QUEUE_URL",
    "HAOPING_TOKENS_QUEUE_URL",
    "HAOPING_BILLING_QUEUE_URL",
    "HAOPING_ALERTS_TOPIC_ARN",
    "HAOPING_KMS_KEY_ID",
    "HAOPING_APP_KEY",
)


# The 千牛 workbench's origins: the web workbench (qn.taobao.com), the seller centre it grew from
# (myseller.taobao.com) and the desktop client's pages (work.taobao.com, qianniu.taobao.com).
DEFAULT_FRAME_ANCESTORS = (
    "'self' https://qn.taobao.com https://myseller.taobao.com https://work.taobao.com https://qianniu.taobao.com"
)
# One CSP source (an https origin, optionally with a wildcard subdomain or port, or a keyword), space-separated.
_SOURCE = r"(?:'self'|'none'|https?://(?:\*\.)?[A-Za-z0-9.-]+(?::(?:[0-9]{1,5}|\*))?)"
_FRAME_ANCESTORS = rf"^{_SOURCE}(?: {_SOURCE})*$"


# The group robots' send endpoints (DingTalk custom robot, WeCom group robot). Deployed, only these hosts over HTTPS
# are ever called; a local stack may point them at its sandbox on 127.0.0.1 (``robots_local_http``).
DINGTALK_ROBOT_URL = "https://oapi.dingtalk.com/robot/send"
WECOM_ROBOT_URL = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"
_ROBOT_HOSTS = {"dingtalk_robot_url": "oapi.dingtalk.com", "wecom_robot_url": "qyapi.weixin.qq.com"}
LOCAL_HOST = "127.0.0.1"
# The platform's service market (卖家服务市场), where a seller subscribes. An app's listing there is
# ``/ser/detail.htm?service_code=<article code>``: the default listing is this app's, from ``article_code``.
SERVICE_MARKET_HOST = "fuwu.taobao.com"
SERVICE_LISTING = "https://" + SERVICE_MARKET_HOST + "/ser/detail.htm?{query}"
# The region everything runs in unless ``AWS_REGION`` names another: the local stack, the tests, the bench and the
# rehearsal use it too.
DEFAULT_REGION = "ap-southeast-1"


class SettingsInvalid(ValueError):
    """The environment does not describe a usable deployment; the message names each bad variable."""


class Settings(BaseModel):
    """Everything a function needs to know about its deployment, typed and validated at start-up."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    stage: str = Field("dev", pattern=r"^[a-z][a-z0-9-]{0,31}$")
    region: str = Field(DEFAULT_REGION, pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")
    table_prefix: str = Field("haoping-dev", pattern=r"^[A-Za-z0-9_.-]{3,200}$")
    review_queue_url: str = ""
    reconcile_queue_url: str = ""
    backfill_queue_url: str = ""
    tokens_queue_url: str = ""
    billing_queue_url: str = ""
    # Records of one SQS batch a queue worker handles at once (threads; ~75 % of a review is waiting on I/O).
    record_concurrency: int = Field(10, ge=1, le=32)
    alerts_topic_arn: str = ""
    kms_key_id: str = ""
    due_shards: int = Field(8, ge=1, le=1024)
    marketplace_url: str = Field("https://gw.api.taobao.com", pattern=r"^https?://\S+$")
    oauth_url: str = Field("https://oauth.taobao.com", pattern=r"^https?://\S+$")
    app_key: str = ""
    article_code: str = "FW_GOODS-1000000"
    app_secret_id: str = ""
    buyer_hash_secret_id: str = ""
    session_secret_id: str = ""
    secrets_max_age: int = Field(300, ge=0, le=86400)
    stage_dry_run: bool = False
    public_url: str = ""
    # Who may frame the dashboard (its Content-Security-Policy ``frame-ancestors``): CSP sources separated by
    # spaces. By default the 千牛 workbench's origins (web and client) and the app itself; nothing else.
    frame_ancestors: str = Field(DEFAULT_FRAME_ANCESTORS, pattern=_FRAME_ANCESTORS)
    dingtalk_robot_url: str = DINGTALK_ROBOT_URL
    wecom_robot_url: str = WECOM_ROBOT_URL
    # Only a local stack sets this: the robots' URLs may then be plain HTTP on 127.0.0.1 (the sandbox's robots).
    robots_local_http: bool = False
    # This app's listing in the service market, where "去服务市场订购" sends a seller: https on the market's host
    # only. Empty (the default) means the listing of ``article_code`` (``listing_url``).
    service_listing_url: str = ""

    @property
    def listing_url(self) -> str:
        """Where a seller subscribes to this app: the configured listing, else the one of ``article_code``."""
        return self.service_listing_url or SERVICE_LISTING.format(query=urlencode({"service_code": self.article_code}))

    @field_validator("service_listing_url")
    @classmethod
    def _on_the_service_market(cls, value: str) -> str:
        url = urlsplit(value)
        plain = url.scheme == "https" and url.hostname == SERVICE_MARKET_HOST and not (url.port or url.username)
        if value and not (plain and value.isprintable() and " " not in value):
            raise ValueError(f"must be an https://{SERVICE_MARKET_HOST}/… address (this app's listing)")
        return value

    @model_validator(mode="after")
    def _robot_hosts(self) -> Settings:
        for field, host in _ROBOT_HOSTS.items():
            url = urlsplit(getattr(self, field))
            official = url.scheme == "https" and url.hostname == host
            local = self.robots_local_http and url.scheme == "http" and url.hostname == LOCAL_HOST
            if not (official or local) or url.query or url.fragment:
                raise ValueError(f"{field} must be https://{host}/… (or http://{LOCAL_HOST} with robots_local_http)")
        return self

    @field_validator("stage_dry_run", "robots_local_http", mode="before")
    @classmethod
    def _flag(cls, value: object) -> object:
        # An empty variable means "not set" (off), as a shell user expects.
        if isinstance(value, str):
            text = value.strip().lower()
            if text in {"", "0", "false", "no", "off"}:
                return False
            if text in {"1", "true", "yes", "on"}:
                return True
        return value

    def table(self, name: str) -> str:
        """Physical table name of a logical table (``Tasks`` → ``haoping-dev-Tasks``)."""
        return f"{self.table_prefix}-{name}"


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Validate settings from an environment mapping (``os.environ`` by default); ``SettingsInvalid`` says why.
    Inside Lambda (``AWS_LAMBDA_FUNCTION_NAME`` set) every value of ``DEPLOYED_REQUIRED`` must be there too."""
    e = os.environ if env is None else env
    if e.get("AWS_LAMBDA_FUNCTION_NAME"):
        missing = [name for name in DEPLOYED_REQUIRED if e.get(name, "") == ""]
        if missing:
            raise SettingsInvalid(
                "invalid settings: " + "; ".join(f"{name}: missing in a deployed function" for name in missing)
            )
    values: dict[str, object] = {field: e[name] for name, field in ENV_FIELDS.items() if e.get(name, "") != ""}
    region = e.get("AWS_REGION") or e.get("AWS_DEFAULT_REGION")
    if region:
        values["region"] = region
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "?"
            variable = _FIELD_ENV.get(field, "AWS_REGION" if field == "region" else field)
            # The message names the variable and the rule, never the value (it may be a mistyped secret).
            problems.append(f"{variable}: {error['msg']}")
        raise SettingsInvalid("invalid settings: " + "; ".join(problems)) from None


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
