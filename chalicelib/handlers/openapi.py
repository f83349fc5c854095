"""The seller API's route table and the OpenAPI 3.1 document generated from it and from ``api_models``."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from chalicelib.handlers import api_models as m

REF_TEMPLATE = "#/components/schemas/{model}"
ERROR_TEXT = {
    400: "The request is invalid; ``fields`` names each bad field",
    401: "No valid seller session",
    403: "The request names another seller",
    404: "Not found among this seller's own data",
    409: "Not possible in the current state; the message says why",
    415: "The request's Content-Type is not application/json",
}
# Every seller route may answer these: no session, a request naming another seller, a body type it does not take.
ALWAYS = (401, 403, 415)


@dataclass(frozen=True)
class Operation:
    """One route of the seller API: its models, success status and the errors it may answer."""

    method: str
    path: str
    summary: str
    response: type[BaseModel] | None
    status: int = 200
    body: type[BaseModel] | None = None
    body_required: bool = True
    query: type[BaseModel] | None = None
    errors: tuple[int, ...] = ALWAYS
    public: bool = False
    media: str = "application/json"  # a response that is not JSON (CSV exports) names its type here
    also: tuple[int, ...] = ()  # other success statuses with the same body (201 created / 200 already there)


OPERATIONS: tuple[Operation, ...] = (
    Operation("POST", "/api/logout", "Log out: end every session of the seller", m.LogoutView, errors=ALWAYS),
    Operation("GET", "/api/settings", "The seller's settings", m.SettingsView, errors=(*ALWAYS, 404)),
    Operation(
        "PUT",
        "/api/settings",
        "Change settings (validated as a whole; nothing changes if any field is bad)",
        m.SettingsView,
        body=m.SettingsUpdate,
        errors=(400, *ALWAYS, 404, 409),
    ),
    Operation(
        "POST",
        "/api/settings/preview",
        "Render a template for a sample trade, with the lint verdict",
        m.PreviewView,
        body=m.PreviewRequest,
        body_required=False,
        errors=(400, *ALWAYS, 404),
    ),
    Operation(
        "GET",
        "/api/tasks",
        "Review tasks, newest trade first, one page per cursor",
        m.TaskPageView,
        query=m.TaskQuery,
        errors=(400, *ALWAYS),
    ),
    Operation(
        "POST",
        "/api/tasks/{tid}/retry",
        "Schedule a failed (or held-for-review) task again",
        m.TaskActionView,
        body=m.NoBody,
        body_required=False,
        errors=(400, *ALWAYS, 404, 409),
    ),
    Operation(
        "POST",
        "/api/tasks/{tid}/cancel",
        "Cancel a scheduled or held task (it is never posted)",
        m.TaskActionView,
        body=m.NoBody,
        body_required=False,
        errors=(400, *ALWAYS, 404, 409),
    ),
    Operation(
        "GET",
        "/api/blacklist",
        "Blacklisted buyers (masked)",
        m.BlacklistPageView,
        query=m.PageQuery,
        errors=(400, *ALWAYS),
    ),
    Operation(
        "POST",
        "/api/blacklist",
        "Blacklist a buyer by nick and/or open uid, or the buyer of one of the seller's orders (tid)",
        m.BlacklistAddedView,
        status=201,
        also=(200,),
        body=m.BuyerIdentity,
        errors=(400, *ALWAYS, 404),
    ),
    Operation(
        "DELETE",
        "/api/blacklist",
        "Remove a buyer by entry id, nick or open uid; only with confirm=true (400 confirmation_required otherwise)",
        m.BlacklistRemovedView,
        body=m.BlacklistRemoval,
        errors=(400, *ALWAYS, 404),
    ),
    Operation(
        "GET",
        "/api/stats",
        "Per-day posted, skipped by reason, failed, expired and buyer ratings",
        m.StatsView,
        query=m.StatsQuery,
        errors=(400, *ALWAYS),
    ),
    Operation(
        "GET",
        "/api/subscription",
        "Plan, paid-until, features and days left",
        m.SubscriptionView,
        errors=(*ALWAYS, 404),
    ),
    Operation("GET", "/api/journey", "A new seller's first run, step by step", m.JourneyView, errors=(*ALWAYS, 404)),
    Operation(
        "GET",
        "/api/ratings",
        "Neutral/bad ratings received, newest first, with triage and a suggested reply (中差评中心)",
        m.RatingPageView,
        query=m.RatingQuery,
        errors=(*ALWAYS, 400),
    ),
    Operation(
        "GET",
        "/api/ratings/insight",
        "What buyers complained about: by category per market day and in total",
        m.InsightView,
        query=m.InsightQuery,
        errors=(*ALWAYS, 400),
    ),
    Operation(
        "POST",
        "/api/ratings/{tid}/explain",
        "Post the reply to a rating (the suggestion, or the edited text) through the write guard",
        m.ExplainResultView,
        body=m.ExplainRequest,
        body_required=False,
        errors=(*ALWAYS, 400, 404, 409),
    ),
    Operation(
        "PUT",
        "/api/ratings/{tid}/category",
        "Change a rating's complaint category (recorded as a correction: text hash and both categories)",
        m.RatingView,
        body=m.CategoryChange,
        errors=(*ALWAYS, 400, 404, 409),
    ),
    Operation(
        "GET",
        "/api/export/reviews.csv",
        "Review tasks of the chosen market days as CSV (UTF-8 with BOM)",
        None,
        query=m.ExportQuery,
        errors=(*ALWAYS, 400),
        media="text/csv",
    ),
    Operation(
        "GET",
        "/api/export/ratings.csv",
        "Neutral/bad ratings with triage and replies as CSV (UTF-8 with BOM)",
        None,
        query=m.ExportQuery,
        errors=(*ALWAYS, 400),
        media="text/csv",
    ),
    Operation("GET", "/api/openapi.json", "This document", None, errors=(415,), public=True),
    Operation(
        "GET",
        "/api/auto-review",
        "Whether automatic reviews run, and when the next reviews would go out",
        m.AutoReviewView,
        errors=(*ALWAYS, 404),
    ),
    Operation(
        "POST",
        "/api/auto-review/pause",
        "Pause automatic reviews (open reviews wait until resumed)",
        m.AutoReviewView,
        body=m.NoBody,
        body_required=False,
        errors=(400, *ALWAYS, 404),
    ),
    Operation(
        "POST",
        "/api/auto-review/resume",
        "Resume automatic reviews (waiting ones go out; those past their window expire)",
        m.AutoReviewView,
        body=m.NoBody,
        body_required=False,
        errors=(400, *ALWAYS, 404),
    ),
    Operation("GET", "/api/phrases", "The built-in phrase library by product type", m.PhraseLibraryView),
    Operation(
        "POST",
        "/api/settings/what-if",
        "How the last 30 days would have gone under these settings (nothing is saved)",
        m.WhatIfView,
        body=m.WhatIfRequest,
        body_required=False,
        errors=(400, *ALWAYS, 404),
    ),
    Operation(
        "POST",
        "/api/ratings/{tid}/extortion",
        "Confirm that a rating flagged as suspected extortion is one (确认是以评价要挟)",
        m.ExtortionConfirmView,
        errors=(*ALWAYS, 400, 404, 409),
    ),
)

# The inbox and group robots, the 操作日志, the numbers a seller reads.
OPERATIONS += (
    Operation(
        "GET",
        "/api/inbox",
        "The inbox (消息中心): every alert of the last 90 days, newest first, with the unread count",
        m.InboxPageView,
        query=m.InboxQuery,
        errors=(400, *ALWAYS),
    ),
    Operation(
        "POST",
        "/api/inbox/read",
        "Mark inbox items read",
        m.InboxReadView,
        body=m.InboxReadRequest,
        errors=(400, *ALWAYS),
    ),
    Operation("GET", "/api/robots", "The seller's DingTalk / WeCom group robots (never their keys)", m.RobotsView),
    Operation(
        "PUT",
        "/api/robots",
        "Keep a group robot (its key and secret are stored encrypted and never shown again)",
        m.RobotsView,
        body=m.RobotSetRequest,
        errors=(400, *ALWAYS, 404),
    ),
    Operation(
        "DELETE",
        "/api/robots",
        "Forget a group robot",
        m.RobotsView,
        body=m.RobotChannelRequest,
        errors=(400, *ALWAYS, 404),
    ),
    Operation(
        "POST",
        "/api/robots/test",
        "Send a test message through a group robot now",
        m.RobotTestView,
        body=m.RobotChannelRequest,
        errors=(400, *ALWAYS, 404),
    ),
    Operation(
        "GET",
        "/api/log",
        "The 操作日志: settings, explanations (by the seller or auto), reviews posted and skipped, blacklist, robots",
        m.LogPageView,
        query=m.LogQuery,
        errors=(400, *ALWAYS),
    ),
    Operation(
        "GET",
        "/api/export/log.csv",
        "The 操作日志 as CSV that Excel opens safely (UTF-8 with BOM)",
        None,
        query=m.LogExportQuery,
        errors=(*ALWAYS, 400),
        media="text/csv",
    ),
    Operation(
        "GET",
        "/api/numbers",
        "好评率 over 30/90/180 days, the items with the most neutral/bad ratings, the share explained",
        m.NumbersView,
    ),
)


def _models() -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = [m.ErrorBody]
    for op in OPERATIONS:
        found += [model for model in (op.response, op.body, op.query) if model is not None]
    return list(dict.fromkeys(found))


def _parameters(op: Operation, schemas: dict) -> list[dict]:
    params = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string", "pattern": m.TID_PATTERN}}
        for name in _path_params(op.path)
    ]
    if op.query is not None:
        schema = schemas[op.query.__name__]
        required = set(schema.get("required", ()))
        for name, prop in schema["properties"].items():
            param = {"name": name, "in": "query", "required": name in required, "schema": prop}
            if "description" in prop:
                param["description"] = prop["description"]
            params.append(param)
    return params


def _path_params(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{") and part.endswith("}")]


def _operation(op: Operation, refs: dict, schemas: dict) -> dict:
    doc: dict = {"summary": op.summary, "operationId": f"{op.method.lower()}{_camel(op.path)}"}
    if op.public:
        doc["security"] = []
        doc["responses"] = {"200": {"description": "OpenAPI 3.1 document", "content": {"application/json": {}}}}
        doc["responses"] |= {str(status): _error_doc(status, refs) for status in op.errors}
        return doc
    params = _parameters(op, schemas)
    if params:
        doc["parameters"] = params
    if op.body is not None:
        doc["requestBody"] = {
            "required": op.body_required,
            "content": {"application/json": {"schema": refs[(op.body, "validation")]}},
        }
    success = (
        {"description": op.summary, "content": {op.media: {"schema": {"type": "string"}}}}
        if op.response is None
        else {
            "description": op.response.__doc__.strip().splitlines()[0],
            "content": {"application/json": {"schema": refs[(op.response, "serialization")]}},
        }
    )
    responses = {str(status): success for status in (op.status, *op.also)}
    responses |= {str(status): _error_doc(status, refs) for status in op.errors}
    doc["responses"] = responses
    return doc


def _error_doc(status: int, refs: dict) -> dict:
    return {
        "description": ERROR_TEXT[status],
        "content": {"application/json": {"schema": refs[(m.ErrorBody, "serialization")]}},
    }


def _camel(path: str) -> str:
    words = [part.strip("{}").replace(".", "_") for part in path.split("/") if part and part != "api"]
    return "".join(word[:1].upper() + word[1:] for word in words)


@cache
def document() -> dict:
    """The OpenAPI 3.1 document of the seller API (built once per container)."""
    models = _models()
    pairs = [(model, "validation") for model in models] + [(model, "serialization") for model in models]
    refs, top = models_json_schema(pairs, ref_template=REF_TEMPLATE)
    schemas = top.get("$defs", {})
    paths: dict[str, dict] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, refs, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "haoping seller API",
            "version": "1",
            "description": "Settings, review tasks, blacklist, statistics and subscription of one seller. "
            "Every route acts for the seller of the session token and sees only that seller's data.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "session": {"type": "http", "scheme": "bearer", "description": "seller session token"},
                "sessionCookie": {"type": "apiKey", "in": "cookie", "name": "hp_session"},
            },
        },
        "security": [{"session": []}, {"sessionCookie": []}],
    }
