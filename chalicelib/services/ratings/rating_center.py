"""Use cases of the bad-review center (中差评中心): triage each neutral/bad rating, suggest and post replies,
and tell the seller what buyers complain about.

Every reply goes to the marketplace through ``_send_explanation`` and nowhere else, so the write path (today the
explanation service with its write guard; tomorrow its queue) changes in one line.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from chalicelib import i18n
from chalicelib.domain import templates, triage
from chalicelib.domain.lint import lint
from chalicelib.domain.market_time import MARKET_TZ, market_date
from chalicelib.marketplace import errors as mkt
from chalicelib.services.alerts.alerts import alert
from chalicelib.services.ratings import explain_rating
from chalicelib.services.rules import rules_in_force
from chalicelib.services.sellers.seller_state import SellerView
from chalicelib.services.sellers.seller_tokens import access_token
from chalicelib.services.sellers.seller_views import decode_cursor, encode_cursor, seller_view
from chalicelib.services.top_client import top_client
from chalicelib.store import audit, ratings, tasks, triage_corrections, triage_data
from chalicelib.store.models import Task
from chalicelib.telemetry import count, logger

# What the explanation service answered → what the seller sees. Anything else is a failure to retry later.
# What ``explain_rating.explain`` answered → the reply's state here; the worker records the final one
# (explained, dry_run, refused, failed, expired) when it has sent the reply through the write path.
_EXPLAIN_STATES = {"queued": "queued", "already_queued": "queued", "already_explained": "explained"}
STATES = ("due", "explained", "expired")


class NotExplainable(ValueError):
    """The rating cannot be explained now (already explained, or past its window)."""


class UnknownCategory(ValueError):
    """A category that is not in force, or 无法判断 (which is no answer)."""


class NotTriaged(ValueError):
    """The rating's words have not been read yet, so there is no category to correct."""


class RatingNotFound(LookupError):
    """The seller has no neutral/bad rating on this trade (another seller's trade is simply not found)."""


@dataclass(frozen=True)
class RatingItem:
    """One neutral/bad rating as the center shows it."""

    task: Task
    category: triage.Category
    triage: dict | None
    state: str  # due | explained | expired
    explanation: dict | None
    explain_due: datetime | None
    suggestion: str  # the reply the seller would post with one click (rendered)


# -- triage ------------------------------------------------------------------------------------------------------
def _buyer_text(view: SellerView, tid: str, *, now: datetime) -> str | None:
    # The rating message carries no text; the marketplace's rating list does (a read, not a write).
    session = access_token(view.seller, now=now)
    if session is None or not tid.isdigit():
        return None
    try:
        for rate in top_client().traderates_get(session, rate_type="get", role="buyer", tid=int(tid)):
            if str(rate.tid) == tid and rate.role == "buyer":
                return rate.content or ""
    except mkt.MarketplaceError as exc:
        logger.warning("rating text unavailable", extra={"tid": tid, "error": type(exc).__name__})
    return None


def triage_rating(seller_id: str, task: Task, view: SellerView, *, text: str | None, now: datetime) -> dict | None:
    """Read the buyer's words (unless given), classify them and store both; None when the text is unavailable."""
    if text is None:
        text = _buyer_text(view, task.tid, now=now)
    if text is None:
        return None
    found = triage.classify(triage_data.model(), triage_data.categories(), text)
    doc = {
        "category": found.category,
        "confidence": found.confidence,
        "sentiment": found.sentiment,
        "positive": found.positive,
        "bad_faith": found.bad_faith,
        "evidence": list(found.evidence),
        "model": triage_data.model().version,
    }
    ratings.record_triage(seller_id, task.tid, text=text, triage=doc, now=now)
    task.rating_text, task.triage = text, doc
    count(f"Triage_{found.category}")
    return doc


def on_bad_rating(
    seller_id: str, task: Task, view: SellerView, *, text: str | None, auto: bool, now: datetime
) -> str | None:
    """A neutral/bad rating came: triage it once, and answer it automatically when the seller asked for that
    for its category and the triage is sure it is not bad faith. Returns the explanation's result, if any."""
    found = task.triage or triage_rating(seller_id, task, view, text=text, now=now)
    if found is not None and found.get("bad_faith", 0.0) > 0:  # a demand tied to the rating was found
        alert(
            seller_id,
            "suspected_extortion",
            f"rating on trade {task.tid} may be an extortion attempt",
            now=now,
            detail={"tid": task.tid, "buyer": task.buyer_masked},
            once_key=f"extortion:{seller_id}:{task.tid}",
        )
    if not auto:
        return None
    categories, model = triage_data.categories(), triage_data.model()
    enabled = frozenset(view.settings.auto_explain_categories) or triage_data.default_auto_categories()
    if found is None:
        return None  # no text, no category: never answer blind
    reading = triage.Triage(
        found["category"],
        found["confidence"],
        found["sentiment"],
        found["positive"],
        found["bad_faith"],
        tuple(found.get("evidence") or ()),
    )
    if not triage.may_auto_explain(reading, categories, model, enabled):
        count("AutoExplainWithheld")
        return None
    template = _template_for(task, view, categories.get(found["category"]))
    return _explain(seller_id, task, _render(template, task, view) if template else "", now=now, by="auto")


def auto_categories() -> frozenset[str]:
    """The categories that may be answered automatically now (allowed, and measured precise enough)."""
    return triage_data.auto_categories()


def measured_precision(category: str) -> float | None:
    """The held-out precision the model in force measured for ``category`` (None: not measured)."""
    return triage_data.model().measured.precision.get(category)


# -- the one write -----------------------------------------------------------------------------------------------
class ExplanationRefused(ValueError):
    """The reply breaks the content rules (contact details, banned words, length): nothing was queued.
    ``fields`` names the problems of the ``text`` field, each with its position where it has one."""

    def __init__(self, problems) -> None:
        super().__init__("the explanation does not pass the content rules")
        self.fields = {"text": "; ".join(problem.message for problem in problems)}


def _send_explanation(seller_id: str, task: Task, text: str, *, now: datetime) -> str:
    return explain_rating.explain(seller_id, task, now=now, text=text)


def _explain(seller_id: str, task: Task, text: str, *, now: datetime, by: str) -> str:
    result = _send_explanation(seller_id, task, text, now=now)
    # The seller's 操作日志 says who asked for the explanation (the seller, or auto-explain) and what came of it.
    audit.append(
        seller_id, actor=by, action="explanation.request", target=task.tid, result=result, detail=None, now=now
    )
    if result != "nothing_to_explain":
        state = _EXPLAIN_STATES.get(result, "failed")
        ratings.record_explanation(seller_id, task.tid, state=state, text=text, now=now)
    return result


# -- suggestions -------------------------------------------------------------------------------------------------
def _template_for(task: Task, view: SellerView, category: triage.Category) -> str:
    settings = view.settings
    choices = tuple(settings.explain_by_category.get(category.key) or ()) or tuple(settings.explain_templates)
    choices = choices or category.templates or triage_data.categories().get(triage.OTHER).templates
    return choices[templates.choose_template(choices, "random", task.tid, 0)] if choices else ""


def _render(template: str, task: Task, view: SellerView) -> str:
    return templates.render(
        template,
        templates.variables_for(
            buyer_masked=task.buyer_masked or "",
            item_title=task.item_title or "",
            shop_name=view.seller.nick,
            trade_end=datetime.fromtimestamp(task.trade_end, UTC),
        ),
    )


def _item(task: Task, view: SellerView, *, now: datetime) -> RatingItem:
    categories = triage_data.categories()
    category = categories.get((task.triage or {}).get("category", triage.OTHER))
    rated_at = datetime.fromtimestamp(int(task.bad_rated_at or task.buyer_rated_at or task.updated_at), UTC)
    due = rated_at + timedelta(days=rules_in_force().explain_window_days)
    explanation = ratings.explanation_of(task)
    if explanation and explanation.get("state") == "explained":
        state = "explained"
    elif now >= due:
        state = "expired"
    else:
        state = "due"
    template = _template_for(task, view, category)
    return RatingItem(
        task=task,
        category=category,
        triage=task.triage,
        state=state,
        explanation=explanation,
        explain_due=due,
        suggestion=_render(template, task, view) if template else "",
    )


# -- listing -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RatingFilter:
    """Which ratings to list: received in the last ``days`` market days, in these states and categories."""

    days: int = 30
    states: frozenset[str] | None = None
    categories: frozenset[str] | None = None


def _window(days: int, now: datetime) -> tuple[int, int]:
    first_day = market_date(now) - timedelta(days=days - 1)
    return int(datetime.combine(first_day, time(0), tzinfo=MARKET_TZ).timestamp()), int(now.timestamp())


def list_ratings(
    seller_id: str, *, where: RatingFilter, cursor: str | None, limit: int, now: datetime
) -> tuple[list[RatingItem], str | None]:
    """A page of the seller's neutral/bad ratings, newest first, and the next page's cursor."""
    view = seller_view(seller_id)
    after = tuple(decode_cursor(cursor, (int, str))) if cursor else None
    first, last = _window(where.days, now)
    page = ratings.page(seller_id, limit=limit, first=first, last=last, after=after)
    items = [_item(task, view, now=now) for task in page.tasks]
    items = [
        item
        for item in items
        if (where.states is None or item.state in where.states)
        and (where.categories is None or item.category.key in where.categories)
    ]
    return items, encode_cursor(list(page.next_key)) if page.next_key else None


def rating_of(seller_id: str, tid: str, *, now: datetime) -> RatingItem:
    """One neutral/bad rating of the seller's; ``RatingNotFound`` when the trade has none."""
    task = tasks.get(seller_id, tid)
    if task is None or task.buyer_rating not in ("neutral", "bad"):
        raise RatingNotFound(tid)
    return _item(task, seller_view(seller_id), now=now)


def explain_now(seller_id: str, tid: str, *, text: str | None, now: datetime) -> tuple[RatingItem, str]:
    """Queue the seller's reply to one rating (the suggestion, or their own ``text``, which is plain text: braces
    are just braces); the review worker sends it through the write guard. A reply the content rules would refuse
    raises ``ExplanationRefused`` before anything is queued."""
    item = rating_of(seller_id, tid, now=now)
    if item.state != "due" or (item.explanation or {}).get("state") == "queued":  # queued: being sent already
        raise NotExplainable(tid)
    reply = item.suggestion if text is None else text
    problems = lint(reply, rules_in_force(), kind="explain")
    if problems:
        count("ExplanationRefused")
        raise ExplanationRefused(problems)
    result = _explain(seller_id, item.task, reply, now=now, by="seller")
    return _item(tasks.get(seller_id, tid) or item.task, seller_view(seller_id), now=now), result


def recategorize(seller_id: str, tid: str, category: str, *, now: datetime) -> RatingItem:
    """The seller changes a rating's complaint category: the rating shows it (and its replies) from now on, and the
    change is recorded as a correction (text hash and both categories; shared, anonymised, if the seller opted in).
    ``UnknownCategory`` for a category not in force (or 无法判断, which is no answer)."""
    item = rating_of(seller_id, tid, now=now)
    found, text = item.task.triage, item.task.rating_text
    if not found or text is None:
        raise NotTriaged(tid)
    if category not in triage_data.categories().by_key() or category == triage.UNSURE:
        raise UnknownCategory(f"unknown complaint category {category!r}")
    before = found["category"]
    if category != before:
        view = seller_view(seller_id)
        doc = {**found, "category": category, "corrected_from": found.get("corrected_from", before)}
        ratings.record_triage(seller_id, tid, text=text, triage=doc, now=now)
        triage_corrections.record(
            seller_id,
            text=text,
            before=before,
            after=category,
            model=str(found.get("model", "")),
            share=view.settings.share_corrections,
            now=now,
        )
        count("TriageCorrected")
    return rating_of(seller_id, tid, now=now)


# -- insight -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Insight:
    """What buyers complained about over ``days`` market days: per day and in total, by category."""

    days: list[tuple[date, dict[str, int]]]
    totals: dict[str, int]
    explained: int
    categories: tuple[triage.Category, ...]


def insight(seller_id: str, *, days: int, now: datetime) -> Insight:
    """Complaints by category per market day, oldest first (one index query and the items it names)."""
    first, last = _window(days, now)
    found = ratings.received_between(seller_id, first, last)
    start = market_date(now) - timedelta(days=days - 1)
    per_day = {start + timedelta(days=i): Counter() for i in range(days)}
    totals: Counter[str] = Counter()
    explained = 0
    for task in found:
        key = (task.triage or {}).get("category", triage.OTHER)
        day = market_date(datetime.fromtimestamp(int(task.bad_rated_at), UTC))
        if day in per_day:
            per_day[day][key] += 1
            totals[key] += 1
            explained += (ratings.explanation_of(task) or {}).get("state") == "explained"
    categories = triage_data.categories().items
    return Insight([(d, dict(c)) for d, c in sorted(per_day.items())], dict(totals), explained, categories)


def weekly_summary(seller_id: str, *, now: datetime) -> bool:
    """On a market Monday, alert the seller once with last week's complaints by category; True if sent."""
    today = market_date(now)
    if today.weekday() != 0:
        return False
    last_day = today - timedelta(days=1)
    first_day = last_day - timedelta(days=6)
    summary = insight(seller_id, days=8, now=now)
    counts: Counter[str] = Counter()
    for day, per in summary.days:
        if first_day <= day <= last_day:
            counts.update(per)
    total = sum(counts.values())
    names = {c.key: c.name("zh-CN") for c in summary.categories}
    top = "、".join(f"{names.get(k, k)} {n} 条" for k, n in counts.most_common(3))
    values = {"first": first_day.isoformat(), "last": last_day.isoformat(), "total": total, "top": top}
    key = "summary.weekly" if total else "summary.weekly_none"
    alert(
        seller_id,
        "weekly_summary",
        i18n.text(key, explained=summary.explained, **values),
        now=now,
        detail={"week_start": first_day.isoformat(), "complaints": dict(counts), "total": total},
        once_key=f"weekly:{seller_id}:{first_day.isoformat()}",
    )
    return True
