"""Entry point: the seller REST API under ``/api``.

Every route derives the seller from the session token and passes that id to the services, which read and
write only that seller's partition. A request that names another seller (``seller_id`` in the query or
body) is refused with 403; a task or blacklist entry that is not the seller's own is simply not found (404),
so the answer never tells whether another seller has it. Errors are classified once, in ``_ERRORS``.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from functools import wraps

from chalice import Response
from pydantic import BaseModel, ValidationError

from chalicelib import i18n
from chalicelib.container import container
from chalicelib.domain import extortion, templates
from chalicelib.domain import spreadsheet_cells as cell
from chalicelib.domain.market_time import format_market_time, market_date
from chalicelib.domain.settings import SettingsInvalid
from chalicelib.handlers import api_models as m
from chalicelib.handlers.http import NotAuthenticated, error_response, seller_of
from chalicelib.handlers.openapi import document
from chalicelib.services.alerts import robot_alerts, seller_inbox
from chalicelib.services.alerts.robot_alerts import CredentialInvalid
from chalicelib.services.onboarding.journey import journey_of
from chalicelib.services.ratings import extortion_signals, rating_center
from chalicelib.services.reviews import task_actions
from chalicelib.services.rules import rules_in_force
from chalicelib.services.sellers import seller_blacklist, seller_log, seller_numbers, seller_settings, seller_views
from chalicelib.telemetry import count, logger

MAX_BODY_BYTES = 64 * 1024
JSON_HEADERS = {"Content-Type": "application/json", "Cache-Control": "no-store"}


class RequestInvalid(ValueError):
    """The request's body or query does not validate; ``fields`` maps each bad field to the reason."""

    def __init__(self, message: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.fields = fields or {}


class RemovalNotConfirmed(RequestInvalid):
    """A removal sent without the seller's confirmation (``confirm: true``)."""

    code = "confirmation_required"


class ForeignSeller(PermissionError):
    """The request names a seller other than the session's."""


# Exception type → (status, code); the first matching entry wins.
_ERRORS: tuple[tuple[type[Exception], int, str], ...] = (
    (NotAuthenticated, 401, "unauthenticated"),
    (ForeignSeller, 403, "forbidden"),
    (RequestInvalid, 400, "invalid_request"),
    (SettingsInvalid, 400, "invalid_settings"),
    (seller_views.CursorInvalid, 400, "invalid_cursor"),
    (seller_views.DayOutOfRange, 400, "invalid_request"),
    (seller_views.SellerMissing, 404, "seller_not_found"),
    (task_actions.TaskNotFound, 404, "not_found"),
    (seller_blacklist.EntryNotFound, 404, "not_found"),
    (task_actions.ActionRefused, 409, "conflict"),
    (seller_settings.SettingsConflict, 409, "conflict"),
)


def _error(exc: Exception, lang: str = i18n.DEFAULT) -> Response | None:
    for kind, status, code in _ERRORS:
        if isinstance(exc, kind):
            fields = getattr(exc, "fields", None)
            if isinstance(exc, seller_views.CursorInvalid):
                fields = {"cursor": str(exc)}
            code = getattr(exc, "code", code)
            # The code is the stable identifier; the message and the field reasons are for the seller, localized.
            message = i18n.text(f"error.{code}", lang) if i18n.has(f"error.{code}") else str(exc) or code
            if not fields and str(exc) and i18n.has(f"error.{code}"):
                # A refusal without fields keeps its one reason, in the seller's language when the catalogue knows it.
                reason = i18n.reason(str(exc), lang)
                if reason != str(exc) or lang == "en":
                    message = f"{message}（{reason}）" if lang != "en" else f"{message} ({reason})"
            fields = {name: _reasons(why, lang) for name, why in fields.items()} if fields else fields
            return error_response(status, code, message, fields)
    return None


def _reasons(why: str, lang: str) -> str:
    # A field may carry several reasons ("a; b"): each is translated on its own, then joined the seller's way.
    return ("; " if lang == "en" else "；").join(i18n.reason(part, lang) for part in why.split("; "))


def _route(handler: Callable) -> Callable:
    """Authenticate, run ``handler(request, seller_id, ...)``, and answer errors in the one JSON shape."""

    @wraps(handler)
    def run(request, *args):
        try:
            seller_id = seller_of(request)
            _claim_seller(dict(request.query_params or {}), seller_id)
            return handler(request, seller_id, *args)
        except Exception as exc:
            answer = _error(exc, i18n.request_language(request.headers))
            if answer is None:
                raise
            count(f"Api{answer.status_code}")
            if answer.status_code in (401, 403):
                logger.info("api refused", extra={"status": answer.status_code, "path": _path(request)})
            return answer

    return run


def _path(request) -> str:
    return (getattr(request, "context", None) or {}).get("resourcePath", "")


def _ok(model: BaseModel, status: int = 200) -> Response:
    return Response(body=model.model_dump(mode="json", by_alias=True), status_code=status, headers=JSON_HEADERS)


def _fields(exc: ValidationError) -> dict[str, str]:
    fields: dict[str, str] = {}
    for err in exc.errors():
        name = ".".join(str(part) for part in err["loc"]) or "body"
        fields.setdefault(name, err["msg"])
    return fields


def _claim_seller(data: dict, seller_id: str) -> dict:
    named = data.pop("seller_id", None)
    if named is not None and str(named) != seller_id:
        raise ForeignSeller("this request names another seller")
    return data


def _body(request, model: type[BaseModel], seller_id: str, *, optional: bool = False) -> BaseModel:
    data = _json_object(request, seller_id, optional=optional)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestInvalid("the body does not validate", _fields(exc)) from None


def _json_object(request, seller_id: str, *, optional: bool = False) -> dict:
    raw = request.raw_body or b""
    if len(raw) > MAX_BODY_BYTES:
        raise RequestInvalid(f"the body is larger than {MAX_BODY_BYTES} bytes")
    if not raw.strip():
        if not optional:
            raise RequestInvalid("a JSON body is required")
        data = {}
    else:
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: absurdly deep nesting
            raise RequestInvalid("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise RequestInvalid("the body must be a JSON object")
    return _claim_seller(data, seller_id)


def _query(request, model: type[BaseModel], seller_id: str) -> BaseModel:
    params = dict(request.query_params or {})
    try:
        return model.model_validate(_claim_seller(params, seller_id))
    except ValidationError as exc:
        raise RequestInvalid("the query does not validate", _fields(exc)) from None


_TID = re.compile(m.TID_PATTERN)


def _tid(tid: str) -> str:
    # The OpenAPI document states the same pattern for the path parameter.
    if not _TID.match(tid or ""):
        raise RequestInvalid("not a trade id", {"tid": "1-64 letters, digits, '-' and '_'"})
    return tid


def _epoch(value) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC) if value is not None else None


def task_view(task, *, now: datetime) -> m.TaskView:
    """A stored task as the seller may see it (masked buyer, no hashes, no marketplace response body)."""
    posted_at = (task.response or {}).get("posted_at") if task.state == "posted" else None
    return m.TaskView(
        tid=task.tid,
        oid=task.oid,
        state=task.state,
        reason=task.reason,
        holds=sorted(task.holds or ()),
        buyer=task.buyer_masked,
        item_title=task.item_title,
        content=task.content,
        attempts=int(task.attempts or 0),
        buyer_rating=task.buyer_rating,
        trade_end=_epoch(task.trade_end),
        due_at=_epoch(task.due_at),
        posted_at=_epoch(posted_at),
        updated_at=_epoch(task.updated_at),
        actions=list(task_actions.allowed_actions(task, now=now)),
    )


# -- settings --------------------------------------------------------------------------------------------------
def _settings_view(state: seller_settings.SettingsState) -> m.SettingsView:
    return m.SettingsView(
        settings=state.settings,
        features=sorted(state.features),
        version=state.version,
        template_variables=sorted(templates.VARIABLES),
        content_max_length=state.content_max_length,
        explain_max_length=state.explain_max_length,
        extortion_min_shops=rules_in_force().extortion.min_shops,
        extortion_window_days=rules_in_force().extortion.window_days,
    )


@_route
def settings(request, seller_id: str) -> Response:
    """GET: the saved settings. PUT: change some fields; all of the result must validate or nothing changes."""
    if request.method == "GET":
        return _ok(_settings_view(seller_settings.read_settings(seller_id)))
    # The body is ``m.SettingsUpdate``; the settings check it whole, so every bad field is named in one answer.
    state = seller_settings.update_settings(seller_id, _json_object(request, seller_id), now=container().clock.now())
    return _ok(_settings_view(state))


@_route
def preview(request, seller_id: str) -> Response:
    """Render a template for a sample trade and report the lint verdict."""
    asked = _body(request, m.PreviewRequest, seller_id, optional=True)
    now = container().clock.now()
    sample = seller_settings.SampleTrade(
        buyer_nick=asked.sample.buyer_nick,
        item_title=asked.sample.item_title,
        trade_end=datetime.combine(asked.sample.trade_date, datetime.min.time(), UTC)
        if asked.sample.trade_date
        else None,
    )
    shown = seller_settings.preview_template(
        seller_id, template=asked.template, kind=asked.kind, sample=sample, now=now
    )
    lang = i18n.request_language(request.headers)
    return _ok(
        m.PreviewView(
            content=shown.content,
            ok=shown.ok,
            # Each problem in the seller's language, naming the banned word or the variable and where it is.
            problems=[m.LintProblemView(code=p.code, message=_reasons(p.message, lang)) for p in shown.problems],
            length=len(shown.content),
            max_length=shown.max_length,
        )
    )


# -- tasks -----------------------------------------------------------------------------------------------------
@_route
def list_tasks(request, seller_id: str) -> Response:
    """A page of the seller's tasks, newest trade first."""
    query = _query(request, m.TaskQuery, seller_id)
    where = seller_views.TaskFilter(
        states={query.state.value} if query.state else None, first_day=query.from_, last_day=query.to
    )
    found, cursor = seller_views.list_tasks(seller_id, where=where, cursor=query.cursor, limit=query.limit)
    now = container().clock.now()
    return _ok(m.TaskPageView(tasks=[task_view(task, now=now) for task in found], next_cursor=cursor))


@_route
def retry_task(request, seller_id: str, tid: str) -> Response:
    """Schedule a failed or held-for-review task again."""
    _body(request, m.NoBody, seller_id, optional=True)
    now = container().clock.now()
    task = task_actions.retry_task(seller_id, _tid(tid), now=now)
    return _ok(m.TaskActionView(task=task_view(task, now=now)))


@_route
def cancel_task(request, seller_id: str, tid: str) -> Response:
    """Cancel a scheduled or held task."""
    _body(request, m.NoBody, seller_id, optional=True)
    now = container().clock.now()
    task = task_actions.cancel_task(seller_id, _tid(tid), now=now)
    return _ok(m.TaskActionView(task=task_view(task, now=now)))


# -- blacklist -------------------------------------------------------------------------------------------------
def _entry_view(entry: seller_blacklist.Entry) -> m.BlacklistEntryView:
    return m.BlacklistEntryView(
        id=entry.id, buyer=entry.buyer, reason=entry.reason, added_at=entry.added_at, note=entry.note, tid=entry.tid
    )


@_route
def blacklist(request, seller_id: str) -> Response:
    """GET: a page of entries. POST: add a buyer (nick and/or open uid). DELETE: remove by id, nick or uid."""
    now = container().clock.now()
    if request.method == "GET":
        query = _query(request, m.PageQuery, seller_id)
        entries, cursor = seller_blacklist.list_entries(seller_id, cursor=query.cursor, limit=query.limit)
        return _ok(m.BlacklistPageView(entries=[_entry_view(e) for e in entries], next_cursor=cursor))
    if request.method == "POST":
        buyer = _body(request, m.BuyerIdentity, seller_id)
        entries, created = seller_blacklist.add_buyer(
            seller_id,
            nick=buyer.nick,
            open_uid=buyer.open_uid,
            now=now,
            note=buyer.note,
            tid=buyer.tid,
            reason=buyer.reason,
        )
        view = m.BlacklistAddedView(entries=[_entry_view(e) for e in entries], created=created)
        return _ok(view, 201 if created else 200)
    removal = _removal(request, seller_id)
    if not removal.confirm:  # a removal cannot be undone by the seller's hand alone: it is asked for explicitly
        raise RemovalNotConfirmed(
            "the removal was not confirmed", {"confirm": "must be true to remove the buyer from the blacklist"}
        )
    removed = seller_blacklist.remove(
        seller_id, entry_id=removal.id, nick=removal.nick, open_uid=removal.open_uid, now=now
    )
    return _ok(m.BlacklistRemovedView(removed=removed))


def _removal(request, seller_id: str) -> m.BlacklistRemoval:
    # The entry id may ride in the query string (it is a keyed hash); a nick only ever in the body,
    # because query strings end up in access logs.
    params = dict(request.query_params or {})
    if "nick" in params or "open_uid" in params:
        raise RequestInvalid("send the buyer's nick in the JSON body, not the URL", {"nick": "not allowed in the URL"})
    if "id" in params and not (request.raw_body or b"").strip():
        try:
            return m.BlacklistRemoval.model_validate(_claim_seller(params, seller_id))
        except ValidationError as exc:
            raise RequestInvalid("the query does not validate", _fields(exc)) from None
    return _body(request, m.BlacklistRemoval, seller_id)


# -- stats, subscription, the document ---------------------------------------------------------------------------
@_route
def stats(request, seller_id: str) -> Response:
    """Per-day counters of the last ``days`` market days, oldest first, and their totals."""
    query = _query(request, m.StatsQuery, seller_id)
    days = seller_views.stats_for(seller_id, days=query.days, now=container().clock.now())
    views = [
        m.DayStatsView(
            day=d.day,
            posted=d.posted,
            skipped=dict(d.skipped),
            failed=d.failed,
            expired=d.expired,
            ratings=m.RatingCounts(**d.ratings),
        )
        for d in days
    ]
    return _ok(m.StatsView(days=views, totals=_totals(views)))


def _totals(days: list[m.DayStatsView]) -> m.StatsTotals:
    skipped: dict[str, int] = {}
    ratings = {"good": 0, "neutral": 0, "bad": 0}
    for d in days:
        for reason, n in d.skipped.items():
            skipped[reason] = skipped.get(reason, 0) + n
        for name in ratings:
            ratings[name] += getattr(d.ratings, name)
    return m.StatsTotals(
        posted=sum(d.posted for d in days),
        skipped=skipped,
        failed=sum(d.failed for d in days),
        expired=sum(d.expired for d in days),
        ratings=m.RatingCounts(**ratings),
    )


@_route
def subscription(request, seller_id: str) -> Response:
    """Plan, paid-until, features, days left and the install backfill's progress."""
    sub = seller_views.subscription_of(seller_id, now=container().clock.now())
    return _ok(
        m.SubscriptionView(
            shop=sub.shop,
            status=sub.status,
            plan=sub.plan,
            plan_name=sub.plan_name_en if i18n.request_language(request.headers) == "en" else sub.plan_name,
            active=sub.active,
            paid_until=sub.paid_until,
            days_left=sub.days_left,
            features=sorted(sub.features),
            hourly_cap=sub.hourly_cap,
            backfill=m.BackfillView(**asdict(sub.backfill)) if sub.backfill else None,
        )
    )


def openapi(request) -> Response:
    """The OpenAPI 3.1 document of this API (public: it describes, it reveals no data)."""
    return Response(body=document(), status_code=200, headers={"Content-Type": "application/json"})


# -- the bad-review center (中差评中心), insight, exports, the first-run journey ----------------------------------
_ERRORS += (
    (rating_center.RatingNotFound, 404, "not_found"),
    (rating_center.NotExplainable, 409, "not_explainable"),
    (rating_center.ExplanationRefused, 400, "explanation_refused"),
    # A stored template that no longer parses (the rules' variables changed under it) is the seller's to fix.
    (templates.TemplateInvalid, 400, "invalid_settings"),
    (rating_center.NotTriaged, 409, "not_triaged"),
)


def _rating_view(item: rating_center.RatingItem, lang: str) -> m.RatingView:
    task, found = item.task, item.triage
    explanation = None
    if item.explanation:
        e = item.explanation
        explanation = m.ExplanationView(state=e["state"], text=e.get("text") or "", at=_epoch(e["at"]))
    return m.RatingView(
        tid=task.tid,
        item_title=task.item_title,
        buyer=task.buyer_masked,
        result=task.buyer_rating,
        text=task.rating_text,
        rated_at=_epoch(task.bad_rated_at or task.buyer_rated_at or task.updated_at),
        state=item.state,
        explain_due=item.explain_due,
        explanation=explanation,
        triage=m.TriageView(
            category=item.category.key,
            category_name=item.category.name(lang),
            confidence=found["confidence"],
            sentiment=found["sentiment"],
            positive=found["positive"],
            auto_explain_allowed=item.category.key in rating_center.auto_categories(),
            evidence=list(found.get("evidence") or ()),
            corrected_from=found.get("corrected_from"),
        )
        if found
        else None,
        suggestion=item.suggestion,
        extortion_suspected=extortion.suspected(task.triage, rules_in_force().extortion),
        extortion_confirmed=task.extortion_confirmed_at is not None,
    )


@_route
def list_ratings(request, seller_id: str) -> Response:
    """A page of the neutral/bad ratings the seller received, newest first, with triage and suggested replies."""
    query = _query(request, m.RatingQuery, seller_id)
    where = rating_center.RatingFilter(
        days=query.days,
        states=frozenset({query.state}) if query.state else None,
        categories=frozenset({query.category}) if query.category else None,
    )
    items, cursor = rating_center.list_ratings(
        seller_id, where=where, cursor=query.cursor, limit=query.limit, now=container().clock.now()
    )
    lang = i18n.request_language(request.headers)
    return _ok(m.RatingPageView(ratings=[_rating_view(item, lang) for item in items], next_cursor=cursor))


@_route
def explain_rating(request, seller_id: str, tid: str) -> Response:
    """Post the reply to one rating (the suggestion, or the seller's edited text) through the write guard."""
    asked = _body(request, m.ExplainRequest, seller_id, optional=True)
    item, result = rating_center.explain_now(seller_id, _tid(tid), text=asked.text, now=container().clock.now())
    lang = i18n.request_language(request.headers)
    return _ok(m.ExplainResultView(rating=_rating_view(item, lang), result=result))


@_route
def recategorize_rating(request, seller_id: str, tid: str) -> Response:
    """The seller changes a rating's complaint category (recorded as a correction for the next model)."""
    asked = _body(request, m.CategoryChange, seller_id)
    try:
        item = rating_center.recategorize(seller_id, _tid(tid), asked.category, now=container().clock.now())
    except rating_center.UnknownCategory as exc:
        raise RequestInvalid("unknown complaint category", {"category": str(exc)}) from None
    return _ok(_rating_view(item, i18n.request_language(request.headers)))


def _category_view(category, lang: str) -> m.CategoryView:
    return m.CategoryView(
        key=category.key,
        name=category.name(lang),
        templates=list(category.templates),
        auto_explain=category.key in rating_center.auto_categories(),
        measured_precision=rating_center.measured_precision(category.key),
    )


@_route
def rating_insight(request, seller_id: str) -> Response:
    """Complaints by category per market day over the last ``days`` days, with the categories in force."""
    query = _query(request, m.InsightQuery, seller_id)
    found = rating_center.insight(seller_id, days=query.days, now=container().clock.now())
    lang = i18n.request_language(request.headers)
    return _ok(
        m.InsightView(
            days=[m.ComplaintDayView(day=day, counts=counts) for day, counts in found.days],
            totals=found.totals,
            total=sum(found.totals.values()),
            explained=found.explained,
            categories=[_category_view(c, lang) for c in found.categories],
        )
    )


_CSV_ROWS = 10_000  # an export past this is cut: a month of a very large shop's reviews fits


def _csv(name: str, header: list[str], rows, lang: str) -> Response:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([i18n.text(f"csv.{column}", lang) for column in header])
    writer.writerows(rows)
    # The byte-order mark makes Excel read the file as UTF-8, so Chinese text opens unmangled.
    return Response(
        body="\ufeff" + out.getvalue(),
        status_code=200,
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


def _market(value) -> str:
    return format_market_time(_epoch(value))[:16] if value else ""


_EXPORT_MAX_DAYS = 90


def _export_days(query: m.ExportQuery) -> tuple[date, date]:
    # One end alone is bounded like both: 'to' defaults to today, 'from' to 29 days before 'to'.
    last = query.to or market_date(container().clock.now())
    first = query.from_ or last - timedelta(days=29)
    if (last - first).days > _EXPORT_MAX_DAYS:
        raise RequestInvalid("the period is too long", {"from": f"at most {_EXPORT_MAX_DAYS} days before 'to'"})
    return first, last


def _reason(reason: str | None, lang: str) -> str:
    return i18n.text(f"page.reason.{reason}", lang) if reason and i18n.has(f"page.reason.{reason}") else reason or ""


@_route
def export_reviews(request, seller_id: str) -> Response:
    """The seller's review tasks of the chosen market days as CSV (UTF-8 with BOM), every cell safe in a
    spreadsheet (``domain.spreadsheet_cells``)."""
    first, last = _export_days(_query(request, m.ExportQuery, seller_id))
    lang = i18n.request_language(request.headers)
    where = seller_views.TaskFilter(first_day=first, last_day=last)
    rows, cursor = [], None
    while len(rows) < _CSV_ROWS:
        found, cursor = seller_views.list_tasks(seller_id, where=where, cursor=cursor, limit=100)
        for t in found:
            posted_at = (t.response or {}).get("posted_at") if t.state == "posted" else None
            rating = i18n.text(f"value.{t.buyer_rating}", lang) if t.buyer_rating else ""
            state = i18n.text(f"state.{t.state}", lang)
            row = [cell.identifier(t.tid), cell.text(t.item_title), cell.text(t.buyer_masked), state]
            row += [cell.text(_reason(t.reason, lang)), _market(t.trade_end), _market(posted_at)]
            rows.append([*row, cell.text(t.content), rating])
        if not cursor:
            break
    header = ["tid", "item", "buyer", "state", "reason", "trade_end", "posted_at", "content", "buyer_rating"]
    return _csv(f"reviews-{first:%Y%m%d}-{last:%Y%m%d}.csv", header, rows, lang)


@_route
def export_ratings(request, seller_id: str) -> Response:
    """The neutral/bad ratings received in the chosen days, with triage and replies, as CSV (UTF-8 with BOM)."""
    first, last = _export_days(_query(request, m.ExportQuery, seller_id))
    lang = i18n.request_language(request.headers)
    now = container().clock.now()
    # Ratings are listed back from today: days after today hold none, and a period wholly ahead holds nothing.
    days = (market_date(now) - first).days + 1
    rows, cursor = [], None
    while days >= 1 and len(rows) < _CSV_ROWS:
        items, cursor = rating_center.list_ratings(
            seller_id, where=rating_center.RatingFilter(days=days), cursor=cursor, limit=100, now=now
        )
        for item in items:
            t = item.task
            rated = _epoch(t.bad_rated_at)
            if rated is None or not first <= market_date(rated) <= last:
                continue
            found = item.triage or {}
            reply = item.explanation or {}
            row = [cell.identifier(t.tid), cell.text(t.item_title), cell.text(t.buyer_masked)]
            row += [i18n.text(f"value.{t.buyer_rating}", lang), _market(t.bad_rated_at), cell.text(t.rating_text)]
            row += [cell.text(item.category.name(lang)) if found else "", cell.percent(found.get("confidence"))]
            row += [i18n.text(f"explain.{reply.get('state') or item.state}", lang), cell.text(reply.get("text"))]
            rows.append([*row, format_market_time(item.explain_due)[:16] if item.explain_due else ""])
        if not cursor:
            break
    # No tone column: a model's "positive" beside a bad rating's complaint misleads more than it tells.
    header = ["tid", "item", "buyer", "buyer_rating", "rated_at", "text", "category", "confidence"]
    header += ["explanation_state", "explanation", "explain_due"]
    return _csv(f"ratings-{first:%Y%m%d}-{last:%Y%m%d}.csv", header, rows, lang)


@_route
def journey(request, seller_id: str) -> Response:
    """A new seller's first run: subscription → authorization → backfill → first reviews posted."""
    steps = journey_of(seller_id, now=container().clock.now())
    views = [m.JourneyStep(step=s.step, state=s.state, detail=dict(s.detail)) for s in steps]
    complete = all(s.state == "done" for s in steps)
    return _ok(m.JourneyView(steps=views, complete=complete, subscribe_url=container().settings.listing_url))


# -- 差评师预警 -----------------------------------------------------------------------------------------------------
_ERRORS += ((extortion_signals.NotSuspected, 409, "not_suspected"),)


@_route
def confirm_extortion(request, seller_id: str, tid: str) -> Response:
    """One click: the seller confirms that a rating flagged as suspected extortion is one (shared if opted in)."""
    result = extortion_signals.confirm_rating(seller_id, _tid(tid), now=container().clock.now())
    return _ok(m.ExtortionConfirmView(tid=tid, result=result))


# -- the inbox, the group robots, the 操作日志, the numbers ------------------------------------------------------
_ERRORS += (
    (seller_blacklist.OrderNotFound, 404, "not_found"),
    (robot_alerts.RobotNotSet, 404, "not_found"),
    (CredentialInvalid, 400, "invalid_robot"),
)


def _inbox_item(item: seller_inbox.InboxItem) -> m.InboxItemView:
    return m.InboxItemView(**asdict(item))


@_route
def inbox(request, seller_id: str) -> Response:
    """A page of the seller's inbox (every alert of the last 90 days), newest first, with the unread count."""
    query = _query(request, m.InboxQuery, seller_id)
    items, cursor, unread = seller_inbox.inbox(
        seller_id, cursor=query.cursor, limit=query.limit, unread_only=query.unread, now=container().clock.now()
    )
    return _ok(m.InboxPageView(items=[_inbox_item(i) for i in items], next_cursor=cursor, unread=unread))


@_route
def inbox_read(request, seller_id: str) -> Response:
    """Mark inbox items read (by id, or all)."""
    asked = _body(request, m.InboxReadRequest, seller_id)
    marked, unread = seller_inbox.mark_read(seller_id, ids=asked.ids, everything=asked.all, now=container().clock.now())
    return _ok(m.InboxReadView(marked=marked, unread=unread))


def _robot_view(state: robot_alerts.RobotState) -> m.RobotView:
    return m.RobotView(**asdict(state))


@_route
def robots(request, seller_id: str) -> Response:
    """GET: the seller's group robots (never their keys). PUT: keep a robot. DELETE: forget one."""
    now = container().clock.now()
    if request.method == "PUT":
        asked = _body(request, m.RobotSetRequest, seller_id)
        robot_alerts.set_robot(seller_id, asked.channel, webhook=asked.webhook, secret=asked.secret, now=now)
    elif request.method == "DELETE":
        asked = _body(request, m.RobotChannelRequest, seller_id)
        robot_alerts.remove_robot(seller_id, asked.channel, now=now)
    return _ok(m.RobotsView(robots=[_robot_view(r) for r in robot_alerts.robots_of(seller_id)]))


@_route
def robot_test(request, seller_id: str) -> Response:
    """Send a test message through one robot now (the page's 发送测试消息 button)."""
    asked = _body(request, m.RobotChannelRequest, seller_id)
    lang = i18n.request_language(request.headers)
    result = robot_alerts.test_send(seller_id, asked.channel, now=container().clock.now(), lang=lang)
    found = [r for r in robot_alerts.robots_of(seller_id) if r.channel == asked.channel]
    return _ok(m.RobotTestView(result=result, robot=_robot_view(found[0]) if found else None))


def _log_text(entry: seller_log.LogEntry, lang: str) -> str:
    reason = entry.reason or ""
    if reason and i18n.has(f"page.reason.{reason}"):
        reason = i18n.text(f"page.reason.{reason}", lang)
    source = entry.detail.get("source")
    values = {
        "tid": entry.tid or "",
        "reason": reason,
        "result": entry.result,
        "fields": ("、" if lang != "en" else ", ").join(str(f) for f in entry.detail.get("fields") or ()),
        "source": i18n.text(f"page.bl.reason_{source}", lang) if source else "",
        "channel": i18n.text(f"page.robot.{entry.detail.get('channel')}", lang) if entry.detail.get("channel") else "",
    }
    for key in (f"log.{entry.action}.{entry.result}", f"log.{entry.action}"):
        if i18n.has(key):
            return i18n.text(key, lang, **values)
    return entry.action


def _log_days(query) -> tuple[date, date]:
    last = query.to or market_date(container().clock.now())
    first = query.from_ or last - timedelta(days=29)
    if first > last:
        raise RequestInvalid("the period ends before it starts", {"from": "must not be after to"})
    return first, last


def _log_entry(entry: seller_log.LogEntry, lang: str) -> m.LogEntryView:
    return m.LogEntryView(**asdict(entry), text=_log_text(entry, lang))


@_route
def audit_log(request, seller_id: str) -> Response:
    """A page of the seller's 操作日志, newest first: settings, explanations, reviews, blacklist, robots."""
    query = _query(request, m.LogQuery, seller_id)
    first, last = _log_days(query)
    found, cursor = seller_log.entries(
        seller_id, first=first, last=last, kind=query.kind, who=query.who, cursor=query.cursor, limit=query.limit
    )
    lang = i18n.request_language(request.headers)
    return _ok(m.LogPageView(entries=[_log_entry(e, lang) for e in found], next_cursor=cursor))


@_route
def export_log(request, seller_id: str) -> Response:
    """The 操作日志 of the chosen market days as CSV that Excel opens safely (UTF-8 with BOM)."""
    query = _query(request, m.LogExportQuery, seller_id)
    first, last = _log_days(query)
    lang = i18n.request_language(request.headers)
    rows, cursor = [], None
    while len(rows) < _CSV_ROWS:
        found, cursor = seller_log.entries(
            seller_id, first=first, last=last, kind=query.kind, who=query.who, cursor=cursor, limit=100
        )
        for e in found:
            who = i18n.text(f"page.log.who_{e.who}", lang)
            kind = i18n.text(f"page.log.kind_{e.kind}", lang)
            rows.append([format_market_time(e.at)[:19], kind, who, _log_text(e, lang), e.tid or ""])
        if not cursor:
            break
    safe = [[cell.text(c) for c in row[:4]] + [cell.identifier(row[4])] for row in rows]
    header = ["log_at", "log_kind", "log_who", "log_text", "tid"]
    return _csv(f"log-{first:%Y%m%d}-{last:%Y%m%d}.csv", header, safe, lang)


@_route
def numbers(request, seller_id: str) -> Response:
    """好评率 over 30/90/180 days, the items drawing the most neutral/bad ratings, the share explained."""
    found = seller_numbers.numbers_of(seller_id, now=container().clock.now())
    rates = [
        m.GoodRateView(
            days=r.days,
            good=r.good,
            neutral=r.neutral,
            bad=r.bad,
            rate=r.rate,
            explained=r.explained,
            explained_share=r.explained_share,
        )
        for r in found.rates
    ]
    items = [m.ItemComplaintsView(item=i.item, neutral=i.neutral, bad=i.bad) for i in found.items]
    return _ok(m.NumbersView(rates=rates, items=items, unknown_item=found.unknown_item))
