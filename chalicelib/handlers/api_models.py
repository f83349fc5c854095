"""Request and response models of the seller API: the routes validate and shape with these, and the
OpenAPI document is generated from them, so the two cannot drift apart."""

from __future__ import annotations

import copy
import re
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, create_model, model_validator

from chalicelib.domain.settings import TEMPLATE_MAX_CHARS, SellerSettings
from chalicelib.domain.task_state import State

SkipReason = Literal["blacklisted", "refunded", "dry_run", "buyer_bad_rating", "cancelled", "disabled", "other"]

# A market day as the API takes it: ``YYYY-MM-DD`` within 2000-2099, nothing pydantic would also read as a day
# ("0", an epoch number, a datetime). The schema states the same pattern, so clients and the handler agree.
DAY_PATTERN = r"^20[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
_DAY_RE = re.compile(DAY_PATTERN)
# A trade id as every route takes it: the marketplace's are digits; letters, '-' and '_' stay allowed.
TID_PATTERN = r"^[0-9A-Za-z_-]{1,64}$"


def _iso_day(value: object) -> object:
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not _DAY_RE.match(value):
        raise ValueError("must be a day written YYYY-MM-DD, from 2000 to 2099")
    return value


MarketDay = Annotated[
    date,
    BeforeValidator(_iso_day),
    WithJsonSchema({"type": "string", "format": "date", "pattern": DAY_PATTERN}),
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _partial(model: type[BaseModel], name: str, doc: str) -> type[BaseModel]:
    """``model`` with every field optional (absent = unchanged) and the same constraints on given values."""
    fields = {}
    for field_name, info in model.model_fields.items():
        optional = copy.copy(info)
        optional.default = None
        optional.default_factory = None
        fields[field_name] = (info.annotation | None, optional)
    return create_model(name, __config__=ConfigDict(extra="forbid"), __doc__=doc, **fields)


# -- errors ----------------------------------------------------------------------------------------------------
class ErrorDetail(_Model):
    """What went wrong: a stable ``code``, a message for people, and the bad fields when there are any."""

    code: str
    message: str
    fields: dict[str, str] | None = None


class ErrorBody(_Model):
    """Every error of the API has this shape."""

    error: ErrorDetail


# -- settings --------------------------------------------------------------------------------------------------
SettingsUpdate = _partial(
    SellerSettings,
    "SettingsUpdate",
    "Fields to change; absent fields keep their value, ``alerts`` merges key by key, lists replace. "
    "The result is validated as a whole: if any field is bad, nothing changes.",
)


class SettingsView(_Model):
    """The seller's saved settings, the plan's features and the limits templates are checked against."""

    settings: SellerSettings
    features: list[str]
    version: int
    template_variables: list[str]
    content_max_length: int
    explain_max_length: int


class SampleTrade(_Model):
    """An example trade to render a template for; the nick is shown masked and never stored."""

    buyer_nick: str = Field(default="tb_sample_buyer", min_length=1, max_length=64)
    item_title: str = Field(default="保温杯", max_length=120)
    trade_date: MarketDay | None = None


class PreviewRequest(_Model):
    """A template to render (default: the seller's first saved one of ``kind``)."""

    template: str | None = Field(default=None, max_length=TEMPLATE_MAX_CHARS)
    kind: Literal["review", "explain"] = "review"
    sample: SampleTrade = SampleTrade()


class LintProblemView(_Model):
    """One reason the text could not be posted."""

    code: str
    message: str


class PreviewView(_Model):
    """The rendered text and the content lint's verdict on it."""

    content: str
    ok: bool
    problems: list[LintProblemView]
    length: int
    max_length: int


# -- tasks -----------------------------------------------------------------------------------------------------
class TaskQuery(_Model):
    """Filters of the task list: state, and the market days (GMT+8) the trades ended on."""

    state: State | None = None
    from_: MarketDay | None = Field(default=None, alias="from")
    to: MarketDay | None = None
    cursor: str | None = Field(default=None, max_length=512, description="next_cursor of the previous page")
    limit: int = Field(default=25, ge=1, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> TaskQuery:
        if self.from_ and self.to and self.from_ > self.to:
            raise ValueError("'from' must not be after 'to'")
        return self


class TaskView(_Model):
    """One review task as the seller sees it (the buyer only masked)."""

    tid: str
    oid: str | None
    state: State
    reason: str | None
    holds: list[str]
    buyer: str | None
    item_title: str | None
    content: str | None
    attempts: int
    buyer_rating: Literal["good", "neutral", "bad"] | None
    trade_end: datetime
    due_at: datetime | None
    posted_at: datetime | None
    updated_at: datetime
    actions: list[Literal["retry", "cancel"]] = Field(description="what the seller may do with it now")


class TaskPageView(_Model):
    """A page of tasks, newest trade first."""

    tasks: list[TaskView]
    next_cursor: str | None


class NoBody(_Model):
    """Task actions take no parameters (an empty body, or none)."""


class TaskActionView(_Model):
    """The task after a retry or cancel."""

    task: TaskView


# -- blacklist -------------------------------------------------------------------------------------------------
class PageQuery(_Model):
    """Cursor paging."""

    cursor: str | None = Field(default=None, max_length=512)
    limit: int = Field(default=50, ge=1, le=100)


class BuyerIdentity(_Model):
    """A buyer by nick and/or open uid (at least one)."""

    nick: str | None = Field(default=None, min_length=1, max_length=64)
    open_uid: str | None = Field(default=None, min_length=1, max_length=128)

    @model_validator(mode="after")
    def _named(self) -> BuyerIdentity:
        if not (self.nick or "").strip() and not (self.open_uid or "").strip():
            raise ValueError("name the buyer by nick or open_uid")
        return self


class BlacklistRemoval(_Model):
    """Which entry to remove: its ``id``, or the buyer's nick/open uid."""

    id: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    nick: str | None = Field(default=None, min_length=1, max_length=64)
    open_uid: str | None = Field(default=None, min_length=1, max_length=128)

    @model_validator(mode="after")
    def _one_way(self) -> BlacklistRemoval:
        named = bool((self.nick or "").strip() or (self.open_uid or "").strip())
        if bool(self.id) == named:
            raise ValueError("give either the entry id or the buyer's nick/open_uid")
        return self


class BlacklistEntryView(_Model):
    """A blacklisted buyer: the entry id (a keyed hash) and the masked nick."""

    id: str
    buyer: str
    reason: str
    added_at: datetime


class BlacklistPageView(_Model):
    """A page of blacklist entries."""

    entries: list[BlacklistEntryView]
    next_cursor: str | None


class BlacklistAddedView(_Model):
    """The entries for the buyer, and how many of them are new."""

    entries: list[BlacklistEntryView]
    created: int


class BlacklistRemovedView(_Model):
    """How many entries were removed."""

    removed: int


# -- stats and subscription ------------------------------------------------------------------------------------
class StatsQuery(_Model):
    """How many market days back, today included."""

    days: int = Field(default=30, ge=1, le=90)


class RatingCounts(_Model):
    """Buyer ratings received."""

    good: int
    neutral: int
    bad: int


class StatsTotals(_Model):
    """Reviews posted, skipped by reason, failed, expired, and buyer ratings received."""

    posted: int
    skipped: dict[SkipReason, int]
    failed: int
    expired: int
    ratings: RatingCounts


class DayStatsView(StatsTotals):
    """One market day's outcomes."""

    day: date


class StatsView(_Model):
    """Per-day counters, oldest first, and their totals."""

    days: list[DayStatsView]
    totals: StatsTotals


class BackfillView(_Model):
    """The install backfill (补评): every finished trade of the rating window not rated yet gets its review task."""

    state: Literal["running", "done", "stopped"]
    reason: str | None = Field(description="Why a stopped backfill stopped (no_session, reauth)")
    started_at: datetime
    finished_at: datetime | None
    days: int = Field(description="Days of the rating window to read")
    days_done: int = Field(description="Days read so far")
    trades: int = Field(description="Trades found")
    scheduled: int = Field(description="Trades that got a review task")
    already_rated: int = Field(description="Trades the seller had already rated")
    existing: int = Field(description="Trades the app already knew")
    skipped: int = Field(description="Trades not finished, or whose rating window has closed")


class LogoutView(_Model):
    """Every session of the seller has ended (on every device); the session cookie is dropped."""

    logged_out: bool


class SubscriptionView(_Model):
    """The seller's plan and paid period."""

    shop: str
    status: str
    plan: str | None
    plan_name: str | None
    active: bool
    paid_until: datetime | None
    days_left: int
    features: list[str]
    hourly_cap: int
    backfill: BackfillView | None = Field(
        default=None, description="The review of the trades finished before the install (补评); null before any"
    )


# -- the bad-review center, insight, exports, first-run journey ---------------------------------------------------
RatingState = Literal["due", "explained", "expired"]


class RatingQuery(_Model):
    """Which neutral/bad ratings to list: received in the last ``days`` market days, by state and category."""

    days: int = Field(default=30, ge=1, le=180)
    state: RatingState | None = None
    category: str | None = Field(default=None, pattern=r"^[a-z_]{1,32}$")
    cursor: str | None = Field(default=None, max_length=512, description="next_cursor of the previous page")
    limit: int = Field(default=20, ge=1, le=100)


class TriageView(_Model):
    """What the buyer's words complain about, how sure the model is, and how the text reads."""

    category: str
    category_name: str
    confidence: float
    sentiment: Literal["positive", "negative", "mixed"] = Field(description="mixed: praise and a complaint")
    positive: float
    auto_explain_allowed: bool = Field(
        description="whether this category may be answered automatically: never for bad faith or unsure, and only "
        "when its measured precision is at least 0.95"
    )
    corrected_from: str | None = Field(default=None, description="the model's category, when the seller changed it")
    evidence: list[str] = Field(
        default_factory=list, description="the buyer's words that tie a demand to the rating (bad faith only)"
    )


class ExplanationView(_Model):
    """The seller's reply as posted (or refused by the write guard, or tried in dry run)."""

    state: Literal["queued", "explained", "dry_run", "refused", "failed", "expired"]
    text: str
    at: datetime


class RatingView(_Model):
    """A neutral/bad rating the seller received, with the suggested reply (the buyer only masked)."""

    tid: str
    item_title: str | None
    buyer: str | None
    result: Literal["neutral", "bad"]
    text: str | None = Field(description="the buyer's words; null while they could not be read")
    rated_at: datetime
    state: RatingState
    explain_due: datetime | None
    explanation: ExplanationView | None
    triage: TriageView | None
    suggestion: str


class RatingPageView(_Model):
    """A page of ratings, newest first."""

    ratings: list[RatingView]
    next_cursor: str | None


class ExplainRequest(_Model):
    """The reply to post: the suggestion when ``text`` is absent, else the seller's edited template."""

    text: str | None = Field(default=None, min_length=1, max_length=2000)


class CategoryChange(_Model):
    """The complaint category the seller says the rating is about."""

    category: str = Field(pattern=r"^[a-z_]{1,32}$")


class ExplainResultView(_Model):
    """The rating after the reply, and what the write path answered (explained, dry_run, lint_failed, ...)."""

    rating: RatingView
    result: str


class InsightQuery(_Model):
    """How many market days back, today included."""

    days: int = Field(default=30, ge=7, le=90)


class CategoryView(_Model):
    """A complaint category: key, name, default replies, whether it may be answered automatically."""

    key: str
    name: str
    templates: list[str]
    auto_explain: bool = Field(description="may be answered automatically (allowed and measured precise enough)")
    measured_precision: float | None = Field(
        default=None, description="share of the model's held-out readings of this category that were right"
    )


class ComplaintDayView(_Model):
    """Complaints received on one market day, by category."""

    day: date
    counts: dict[str, int]


class InsightView(_Model):
    """What buyers complained about: per day and in total by category, and how many got a reply."""

    days: list[ComplaintDayView]
    totals: dict[str, int]
    total: int
    explained: int
    categories: list[CategoryView]


class ExportQuery(_Model):
    """Market days (GMT+8) to export, at most 90 apart; default the last 30."""

    from_: MarketDay | None = Field(default=None, alias="from")
    to: MarketDay | None = None

    @model_validator(mode="after")
    def _ordered(self) -> ExportQuery:
        if self.from_ and self.to and (self.from_ > self.to or (self.to - self.from_).days > 90):
            raise ValueError("'from' must not be after 'to', and at most 90 days apart")
        return self


class JourneyStep(_Model):
    """One step of a new seller's first run: done, the one to do now, or still to come."""

    step: Literal["subscription", "authorization", "backfill", "first_reviews"]
    state: Literal["done", "current", "todo"]
    detail: dict[str, int | str | None] = Field(default_factory=dict)


class JourneyView(_Model):
    """Where a new seller stands, step by step, and whether all of it is done."""

    steps: list[JourneyStep]
    complete: bool
