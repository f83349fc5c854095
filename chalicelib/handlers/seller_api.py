"""Entry point: the seller REST API under ``/api``.

Every route derives the seller from the session token and passes that id to the services, which read and
write only that seller's partition. A request that names another seller (``seller_id`` in the query or
body) is refused with 403; a task or blacklist entry that is not the seller's own is simply not found (404),
so the answer never tells whether another seller has it. Errors are classified once, in ``_ERRORS``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
import re
from functools import wraps

from chalice import Response
from pydantic import BaseModel, ValidationError

from chalicelib.config import clock
from chalicelib.domain import templates
from chalicelib.domain.settings import SettingsInvalid
from chalicelib.handlers import api_models as m
from chalicelib.handlers.http import NotAuthenticated, error_response, seller_of
from chalicelib.handlers.openapi import document
from chalicelib.services import seller_blacklist, seller_settings, seller_views, task_actions
from chalicelib.telemetry import count, logger

MAX_BODY_BYTES = 64 * 1024
JSON_HEADERS = {"Content-Type": "application/json", "Cache-Control": "no-store"}


class RequestInvalid(ValueError):
    """The request's body or query does not validate; ``fields`` maps each bad field to the reason."""

    def __init__(self, message: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.fields = fields or {}


class ForeignSeller(PermissionError):
    """The request names a seller other than the session's."""


# Exception type → (status, code); the first matching entry wins.
_ERRORS: tuple[tuple[type[Exception], int, str], ...] = (
    (NotAuthenticated, 401, "unauthenticated"),
    (ForeignSeller, 403, "forbidden"),
    (RequestInvalid, 400, "invalid_request"),
    (SettingsInvalid, 400, "invalid_settings"),
    (seller_views.CursorInvalid, 400, "invalid_cursor"),
    (seller_views.SellerMissing, 404, "seller_not_found"),
    (task_actions.TaskNotFound, 404, "not_found"),
    (seller_blacklist.EntryNotFound, 404, "not_found"),
    (task_actions.ActionRefused, 409, "conflict"),
    (seller_settings.SettingsConflict, 409, "conflict"),
    (seller_views.DayOutOfRange, 400, "invalid_request"),
)


def _error(exc: Exception) -> Response | None:
    for kind, status, code in _ERRORS:
        if isinstance(exc, kind):
            fields = getattr(exc, "fields", None)
            if isinstance(exc, seller_views.CursorInvalid):
                fields = {"cursor": str(exc)}
            return error_response(status, getattr(exc, "code", code), str(exc) or code, fields)
    return None


def _route(handler: Callable) -> Callable:
    """Authenticate, run ``handler(request, seller_id, ...)``, and answer errors in the one JSON shape."""

    @wraps(handler)
    def run(request, *args):
        try:
            seller_id = seller_of(request)
            _claim_seller(dict(request.query_params or {}), seller_id)
            return handler(request, seller_id, *args)
        except Exception as exc:
            answer = _error(exc)
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
    try:
        return model.model_validate(_claim_seller(data, seller_id))
    except ValidationError as exc:
        raise RequestInvalid("the body does not validate", _fields(exc)) from None


def _query(request, model: type[BaseModel], seller_id: str) -> BaseModel:
    params = dict(request.query_params or {})
    try:
        return model.model_validate(_claim_seller(params, seller_id))
    except ValidationError as exc:
        raise RequestInvalid("the query does not validate", _fields(exc)) from None


def _tid(tid: str) -> str:
    # The OpenAPI document states the same pattern for the path parameter.
    if not _TID.match(tid or ""):
        raise RequestInvalid("not a trade id", {"tid": "1-64 letters, digits, '-' and '_'"})
    return tid


def _epoch(value) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC) if value is not None else None

_TID = re.compile(m.TID_PATTERN)



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
    )


@_route
def settings(request, seller_id: str) -> Response:
    """GET: the saved settings. PUT: change some fields; all of the result must validate or nothing changes."""
    if request.method == "GET":
        return _ok(_settings_view(seller_settings.read_settings(seller_id)))
    patch = _body(request, m.SettingsUpdate, seller_id).model_dump(exclude_unset=True)
    state = seller_settings.update_settings(seller_id, patch, now=clock.now())
    return _ok(_settings_view(state))


@_route
def preview(request, seller_id: str) -> Response:
    """Render a template for a sample trade and report the lint verdict."""
    asked = _body(request, m.PreviewRequest, seller_id, optional=True)
    now = clock.now()
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
    return _ok(
        m.PreviewView(
            content=shown.content,
            ok=shown.ok,
            problems=[m.LintProblemView(code=p.code, message=p.message) for p in shown.problems],
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
    now = clock.now()
    return _ok(m.TaskPageView(tasks=[task_view(task, now=now) for task in found], next_cursor=cursor))


@_route
def retry_task(request, seller_id: str, tid: str) -> Response:
    """Schedule a failed or held-for-review task again."""
    _body(request, m.NoBody, seller_id, optional=True)
    now = clock.now()
    task = task_actions.retry_task(seller_id, _tid(tid), now=now)
    return _ok(m.TaskActionView(task=task_view(task, now=now)))


@_route
def cancel_task(request, seller_id: str, tid: str) -> Response:
    """Cancel a scheduled or held task."""
    _body(request, m.NoBody, seller_id, optional=True)
    now = clock.now()
    task = task_actions.cancel_task(seller_id, _tid(tid), now=now)
    return _ok(m.TaskActionView(task=task_view(task, now=now)))


# -- blacklist -------------------------------------------------------------------------------------------------
def _entry_view(entry: seller_blacklist.Entry) -> m.BlacklistEntryView:
    return m.BlacklistEntryView(id=entry.id, buyer=entry.buyer, reason=entry.reason, added_at=entry.added_at)


@_route
def blacklist(request, seller_id: str) -> Response:
    """GET: a page of entries. POST: add a buyer (nick and/or open uid). DELETE: remove by id, nick or uid."""
    now = clock.now()
    if request.method == "GET":
        query = _query(request, m.PageQuery, seller_id)
        entries, cursor = seller_blacklist.list_entries(seller_id, cursor=query.cursor, limit=query.limit)
        return _ok(m.BlacklistPageView(entries=[_entry_view(e) for e in entries], next_cursor=cursor))
    if request.method == "POST":
        buyer = _body(request, m.BuyerIdentity, seller_id)
        entries, created = seller_blacklist.add_buyer(seller_id, nick=buyer.nick, open_uid=buyer.open_uid, now=now)
        view = m.BlacklistAddedView(entries=[_entry_view(e) for e in entries], created=created)
        return _ok(view, 201 if created else 200)
    removal = _removal(request, seller_id)
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
    days = seller_views.stats_for(seller_id, days=query.days, now=clock.now())
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
    """Plan, paid-until, features and days left."""
    sub = seller_views.subscription_of(seller_id, now=clock.now())
    return _ok(
        m.SubscriptionView(
            shop=sub.shop,
            status=sub.status,
            plan=sub.plan,
            plan_name=sub.plan_name,
            active=sub.active,
            paid_until=sub.paid_until,
            days_left=sub.days_left,
            features=sorted(sub.features),
            hourly_cap=sub.hourly_cap,
        )
    )


def openapi(request) -> Response:
    """The OpenAPI 3.1 document of this API (public: it describes, it reveals no data)."""
    return Response(body=document(), status_code=200, headers={"Content-Type": "application/json"})
