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

SkipReason = Literal[
    "blacklisted", "refunded", "dry_run", "buyer_bad_rating", "cancelled", "disabled", "other", "filtered"
]

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
    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)


def _partial(model: type[BaseModel], name: str, doc: str) -> type[BaseModel]:
    """``model`` with every field optional (absent = unchanged) and the same constraints on given values."""
    fields = {}
    for field_name, info in model.model_fields.items():
        optional = copy.copy(info)
        optional.default = None
        optional.default_factory = None
        fields[field_name] = (info.annotation | None, optional)
    return create_model(name, __config__=ConfigDict(extra="forbid", defer_build=True), __doc__=doc, **fields)


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
    extortion_min_shops: int = Field(default=3, description="差评师预警: shops that must confirm a buyer")
    extortion_window_days: int = Field(default=180, description="差评师预警: days a confirmation counts")


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
    """A buyer by nick and/or open uid, or as the buyer of one of the seller's orders (``tid``, e.g. from a bad
    rating); with the seller's ``note``."""

    nick: str | None = Field(default=None, min_length=1, max_length=64)
    open_uid: str | None = Field(default=None, min_length=1, max_length=128)
    reason: Literal["manual", "extortion"] = Field(
        default="manual", description="extortion: the buyer used a rating to demand something (shared if opted in)"
    )
    tid: str | None = Field(default=None, pattern=TID_PATTERN)
    note: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _named(self) -> BuyerIdentity:
        if not (self.nick or "").strip() and not (self.open_uid or "").strip() and not self.tid:
            # In the seller's words: an API client may still send ``open_uid``, but no seller knows one.
            raise ValueError("enter the buyer's nick or the order number")
        return self


class BlacklistRemoval(_Model):
    """Which entry to remove: its ``id``, or the buyer's nick/open uid; ``confirm`` must be true (the seller
    confirmed the removal), or nothing is removed."""

    id: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    nick: str | None = Field(default=None, min_length=1, max_length=64)
    open_uid: str | None = Field(default=None, min_length=1, max_length=128)
    confirm: bool = Field(default=False, description="must be true: the seller confirmed the removal")

    @model_validator(mode="after")
    def _one_way(self) -> BlacklistRemoval:
        named = bool((self.nick or "").strip() or (self.open_uid or "").strip())
        if bool(self.id) == named:
            raise ValueError("give either the entry id or the buyer's nick/open_uid")
        return self


class BlacklistEntryView(_Model):
    """A blacklisted buyer: the entry id (a keyed hash), the masked nick, the source (``reason``: ``manual``,
    ``bad_rating`` — by hand from a rating — or ``auto_bad_rating``), the seller's note and the order it came from."""

    id: str
    buyer: str
    reason: str
    added_at: datetime
    note: str | None = None
    tid: str | None = None


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
    extortion_suspected: bool = Field(default=False, description="the triage flagged it as suspected extortion")
    extortion_confirmed: bool = Field(default=False, description="the seller confirmed it as extortion")


class RatingPageView(_Model):
    """A page of ratings, newest first."""

    ratings: list[RatingView]
    next_cursor: str | None


class ExplainRequest(_Model):
    """The reply to post: the suggestion when ``text`` is absent, else the seller's own words, posted as they are
    (plain text, not a template) once the content rules pass."""

    text: str | None = Field(default=None, max_length=2000)


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
    """Where a new seller stands, step by step, whether all of it is done, and where to subscribe (this app's
    listing in the service market, ``HAOPING_SERVICE_LISTING_URL``)."""

    steps: list[JourneyStep]
    complete: bool
    subscribe_url: str


class ExtortionConfirmView(_Model):
    """The seller confirmed a rating as extortion; ``result`` says whether it was shared (shared, sharing_off,
    not_paying, daily_limit, no_buyer, already_confirmed). Nothing about other shops is ever returned."""

    tid: str
    result: Literal["shared", "sharing_off", "not_paying", "daily_limit", "no_buyer", "already_confirmed"]


# -- the inbox (消息中心) and the group robots -------------------------------------------------------------------
INBOX_ID_PATTERN = r"^[0-9]{8}T[0-9]{6}#[A-Za-z0-9:_.-]{1,160}$"
AUDIT_ID_PATTERN = r"^[0-9]{8}T[0-9]{6}\.[0-9]{6}#[0-9a-f]{12}$"
RobotChannel = Literal["dingtalk", "wecom"]


class InboxQuery(_Model):
    """Cursor paging; ``unread`` lists only unread items."""

    cursor: str | None = Field(default=None, pattern=INBOX_ID_PATTERN)
    limit: int = Field(default=20, ge=1, le=100)
    unread: bool = False


class InboxItemView(_Model):
    """One alert: what happened, when, whether it was read, which group robots took it."""

    id: str
    kind: str
    event: str | None
    message: str
    at: datetime
    read: bool
    robots_sent: list[RobotChannel]
    robots_pending: list[RobotChannel]


class InboxPageView(_Model):
    """A page of the inbox (newest first) and the number of unread items in all."""

    items: list[InboxItemView]
    next_cursor: str | None
    unread: int


class InboxReadRequest(_Model):
    """Items to mark read by id, or ``all`` of them."""

    ids: list[Annotated[str, Field(pattern=INBOX_ID_PATTERN)]] | None = Field(default=None, max_length=100)
    all: bool = False

    @model_validator(mode="after")
    def _one_way(self) -> InboxReadRequest:
        if bool(self.ids) == self.all:
            raise ValueError("give either ids or all=true")
        return self


class InboxReadView(_Model):
    """How many items were marked read and how many stay unread."""

    marked: int
    unread: int


class RobotView(_Model):
    """A group robot: its channel, the last characters of its key (never the key or secret), its state."""

    channel: RobotChannel
    hint: str
    added_at: datetime
    paused_until: datetime | None
    refused: str | None


class RobotsView(_Model):
    """The seller's group robots."""

    robots: list[RobotView]


class RobotSetRequest(_Model):
    """A robot to keep: its webhook address (or the bare token/key) and, for DingTalk, the signing secret (SEC…)."""

    channel: RobotChannel
    webhook: str = Field(min_length=1, max_length=512)
    secret: str | None = Field(default=None, max_length=256)


class RobotChannelRequest(_Model):
    """One robot by channel."""

    channel: RobotChannel


class RobotTestView(_Model):
    """What the test message did: ``sent``, ``busy`` (this minute's messages are used up), ``throttled``,
    ``refused`` (fix the robot's settings) or ``unavailable`` (try again later)."""

    result: Literal["sent", "busy", "throttled", "refused", "unavailable"]
    robot: RobotView | None


# -- the 操作日志 -------------------------------------------------------------------------------------------------
class LogQuery(_Model):
    """Market days (default: the last 30), one kind, who acted, cursor paging."""

    from_: MarketDay | None = Field(default=None, alias="from")
    to: MarketDay | None = None
    kind: Literal["settings", "explanation", "review", "blacklist", "alerts"] | None = None
    who: Literal["seller", "auto", "system", "operator"] | None = None
    cursor: str | None = Field(default=None, pattern=AUDIT_ID_PATTERN)
    limit: int = Field(default=50, ge=1, le=100)


class LogEntryView(_Model):
    """One line of the 操作日志: when, what kind, who, what and with which result (the order, the reason)."""

    id: str
    at: datetime
    kind: str
    who: Literal["seller", "auto", "system", "operator"]
    action: str
    result: str
    tid: str | None
    reason: str | None
    text: str
    detail: dict[str, object]


class LogPageView(_Model):
    """A page of the 操作日志, newest first."""

    entries: list[LogEntryView]
    next_cursor: str | None


class LogExportQuery(_Model):
    """Market days (default: the last 30) and filters of the export."""

    from_: MarketDay | None = Field(default=None, alias="from")
    to: MarketDay | None = None
    kind: Literal["settings", "explanation", "review", "blacklist", "alerts"] | None = None
    who: Literal["seller", "auto", "system", "operator"] | None = None


# -- the numbers a seller reads --------------------------------------------------------------------------------
class GoodRateView(_Model):
    """One period (days, today included): ratings received, 好评率 (good / all, 0–1; null without ratings) and
    the share of neutral/bad ratings explained."""

    days: int
    good: int
    neutral: int
    bad: int
    rate: float | None
    explained: int
    explained_share: float | None


class ItemComplaintsView(_Model):
    """An item and the neutral and bad ratings it drew in the last 180 days."""

    item: str
    neutral: int
    bad: int


class NumbersView(_Model):
    """好评率 over 30/90/180 days, the items with the most neutral/bad ratings, ratings without an item title."""

    rates: list[GoodRateView]
    items: list[ItemComplaintsView]
    unknown_item: int


# -- auto-review on/off, the next reviews, the phrase library, the what-if ---------------------------------------
class UpcomingReviewView(_Model):
    """A review waiting to go out (the buyer only masked)."""

    tid: str
    item_title: str | None
    buyer: str | None
    due_at: datetime = Field(description="when the review is due under the seller's timing")
    planned_at: datetime = Field(description="when it would go out, the hourly cap counted")


class AutoReviewView(_Model):
    """Whether automatic reviews run; while paused, how many wait; when the next ones would go out."""

    paused: bool
    paused_at: datetime | None
    waiting: int = Field(description="reviews held while paused (posted on resume while their window is open)")
    hourly_cap: int
    upcoming: list[UpcomingReviewView]


class PhraseTypeView(_Model):
    """One product type of the built-in phrase library."""

    key: str
    name: str
    phrases: list[str]


class PhraseLibraryView(_Model):
    """The built-in phrases by product type; a seller picks types in ``settings.phrase_types``."""

    types: list[PhraseTypeView]
    total: int


WhatIfRequest = _partial(
    SellerSettings,
    "WhatIfRequest",
    "Settings to try, as for a change (absent fields keep their saved value); validated like a save, never saved.",
)


class WhatIfCounts(_Model):
    """How the period's trades would have gone (or went)."""

    posted: int
    waiting: int = Field(description="due after now: they would still go out")
    expired: int
    skipped: dict[str, int] = Field(description="by reason; order filters are the filter_* reasons")
    held: dict[str, int] = Field(description="by reason: paused, refund")


class WhatIfDayView(_Model):
    """Reviews that would have gone out on one market day."""

    day: date
    posted: int


class WhatIfView(_Model):
    """The last 30 market days under the tried settings, next to what really happened to the same trades."""

    first_day: date
    last_day: date
    trades: int
    truncated: bool = Field(description="the period held more trades than a what-if reads")
    simulated: WhatIfCounts
    posted_by_day: list[WhatIfDayView]
    posted_by_hour: list[int] = Field(description="reviews that would have gone out per market hour (0-23, GMT+8)")
    actual: dict[str, int] = Field(description="the same trades' real states")
