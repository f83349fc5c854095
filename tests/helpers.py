"""Test helpers: signed pushes through chalice's test client, world setup, reading state back."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta
from urllib.parse import urlencode

from chalicelib.marketplace import topics
from chalicelib.marketplace.messages import build_message, encode_batch
from chalicelib.marketplace.models import TokenGrant
from chalicelib.marketplace.signing import sign
from chalicelib.services.onboarding.onboard_seller import onboard
from chalicelib.store import sellers

APP_KEY = "12345678"
APP_SECRET = "app-secret-for-tests"


def market_ts(now: datetime) -> str:
    """TOP timestamp (GMT+8) of ``now``."""
    from chalicelib.domain.market_time import format_market_time

    return format_market_time(now)


def signed_path(path: str, body: bytes, now: datetime, *, secret: str = APP_SECRET, method: str = "md5") -> str:
    """``path`` with TOP push signature query params over ``body``."""
    params = {"app_key": APP_KEY, "timestamp": market_ts(now), "sign_method": method}
    params["sign"] = sign(params, secret, method, body=body)
    return f"{path}?{urlencode(params)}"


def push(client, messages: list[dict], now: datetime, *, path: str = "/webhooks/marketplace", secret=APP_SECRET):
    """POST a signed batch through ``chalice.test.Client``; returns the response."""
    body = encode_batch(messages)
    return client.http.post(
        signed_path(path, body, now, secret=secret), headers={"Content-Type": "application/json"}, body=body
    )


def trade_message(seller_id: str, tid: str, now: datetime, *, buyer="tb_buyer_77", msg_id=None, **extra) -> dict:
    """A ``taobao_trade_TradeSuccess`` message."""
    content = {
        "tid": tid,
        "oid": str(int(tid) + 1) if tid.isdigit() else tid,
        "seller_nick": "test_shop",
        "buyer_nick": buyer,
        "buyer_open_uid": f"AAH{tid}",
        "payment": "59.00",
        "status": "TRADE_FINISHED",
        **extra,
    }
    return build_message(
        topics.TRADE_SUCCESS,
        content,
        msg_id=msg_id or f"m{tid}",
        pub_time=now,
        user_id=seller_id,
        user_nick="test_shop",
    )


def topic_message(topic: str, seller_id: str, tid: str, now: datetime, *, msg_id: str, **content) -> dict:
    """Any trade-scoped message (rating, refunds)."""
    body = {"tid": tid, "oid": str(int(tid) + 1), "buyer_nick": content.pop("buyer", "tb_buyer_77"), **content}
    return build_message(topic, body, msg_id=msg_id, pub_time=now, user_id=seller_id, user_nick="test_shop")


def make_seller(
    now: datetime,
    *,
    user_id: str = "2200000001",
    nick: str = "test_shop",
    access_token: str = "6201sessiontoken",
    settings: dict | None = None,
    plan: str | None = "FW_GOODS-1000000-2",
    paid_days: int = 30,
) -> str:
    """Onboard a seller (tokens encrypted via KMS), with settings, plan and a paid period."""
    grant = TokenGrant(
        access_token=access_token,
        token_type="Bearer",
        expires_in=30 * 86400,
        refresh_token="6202refreshtoken",
        re_expires_in=60 * 86400,
        taobao_user_id=user_id,
        taobao_user_nick=nick,
        issued_at=now,
    )
    seller_id = onboard(grant, now=now)
    paid_until = int((now + timedelta(days=paid_days)).timestamp()) if paid_days else None
    set_seller(seller_id, now, settings=settings or {}, plan=plan, paid_until=paid_until)
    return seller_id


def set_seller(seller_id: str, now: datetime, *, settings: dict | None = None, **fields) -> None:
    """Test setup: set a stored seller's attributes with one UpdateItem, as the app's per-concern writers do
    (``settings`` are merged over the saved ones; a ``None`` field is removed)."""
    from chalicelib.store.models import Seller

    actions = [
        getattr(Seller, name).remove() if v is None else getattr(Seller, name).set(v) for name, v in fields.items()
    ]
    if settings:
        actions.append(Seller.settings.set({**(sellers.get(seller_id).settings or {}), **settings}))
    actions.append(Seller.updated_at.set(int(now.timestamp())))
    Seller(seller_id).update(actions=actions)
    sellers.forget(seller_id)


def json_body(response) -> dict:
    """Decoded JSON body of a chalice test response."""
    return json.loads(response.body)


def oauth_login(client, nick: str, *, accept: str = "application/json"):
    """A seller's browser walks the real OAuth flow: the app's ``/oauth/start``, the sandbox marketplace's
    authorize page (logging in as ``nick``), the app's callback with the state cookie. Returns the callback's
    response (JSON with ``seller_id`` and ``session_token`` unless ``accept`` asks for HTML)."""
    from urllib.parse import urlsplit

    import urllib3

    start = client.http.get("/oauth/start")
    state_cookie = start.headers["Set-Cookie"].split(";", 1)[0]
    granted = urllib3.request("GET", f"{start.headers['Location']}&{urlencode({'nick': nick})}", redirect=False)
    back = urlsplit(granted.headers["Location"])
    return client.http.get(f"{back.path}?{back.query}", headers={"Cookie": state_cookie, "Accept": accept})


def add_market_trade(market, clock, tid: str, *, seller_nick: str = "test_shop") -> None:
    """A finished trade on the sandbox marketplace, ended now (the buyer of ``trade_message``)."""
    market.add_trade(
        seller_nick,
        tid=int(tid),
        oid=int(tid) + 1,
        buyer_nick="tb_buyer_77",
        buyer_open_uid=f"AAH{tid}",
        payment="59.00",
        item_title="保温杯",
        created=clock.now() - timedelta(days=3),
        end_time=clock.now(),
    )


# The per-seller jobs: the schedule's function, its queue's worker, the queue's setting, the job.
JOBS = {
    "tokens": ("tokens", "tokens_worker", "tokens_queue_url"),
    "billing": ("billing", "billing_worker", "billing_queue_url"),
    "reconcile": ("reconcile", "reconcile_worker", "reconcile_queue_url"),
}


def run_job(client, name: str, now: datetime, *, context=None) -> Counter:
    """A run of a per-seller job as AWS plays it: its schedule fires, then the job queue's event source hands its
    messages to the job's worker until the queue is empty. Returns the run's outcome counts, read back from what
    the run recorded per seller (the billing schedule's own ``recovered`` added)."""
    import boto3

    from chalicelib.container import container
    from chalicelib.services.jobs import seller_jobs
    from sandbox.lambda_driver import drain, scheduled_event

    schedule, worker, setting = JOBS[name]
    started = client.lambda_.invoke(schedule, scheduled_event(now)).payload
    settings = container().settings
    sqs = boto3.client("sqs", region_name=settings.region)
    invoke = (
        (lambda event: client.lambda_.invoke(worker, event).payload)
        if context is None
        else (lambda event: _invoke_with(worker, event, context))
    )
    drain(sqs, getattr(settings, setting), invoke)
    _, totals = seller_jobs.report(name, started["run"])
    if started.get("recovered"):
        totals["recovered"] += started["recovered"]
    return totals


def _invoke_with(function: str, event: dict, context):
    import app

    return getattr(app, function)(event, context())


def work_review_queue(client) -> None:
    """Run the review worker on every job waiting in the review queue, as Lambda's event source would."""
    from chalicelib.container import container
    from sandbox.lambda_driver import drain

    queue = container().settings.review_queue_url
    drain(container().aws("sqs"), queue, lambda event: client.lambda_.invoke("worker", event).payload)


def work_reconcile_queue(client) -> int:
    """Run the reconcile worker on every message waiting in the reconcile queue (the daily run's messages, and the
    message permit an authorization queued), as Lambda's event source would; returns how many were delivered."""
    from chalicelib.container import container
    from sandbox.lambda_driver import drain

    queue = container().settings.reconcile_queue_url
    done = drain(container().aws("sqs"), queue, lambda event: client.lambda_.invoke("reconcile_worker", event).payload)
    return len(done.received)


def work_backfill_queue(client) -> int:
    """Run the backfill worker on every job waiting in the backfill queue (the install backfills' pages, each queuing
    the next), as Lambda's event source would; returns how many were delivered."""
    from chalicelib.container import container
    from sandbox.lambda_driver import drain

    queue = container().settings.backfill_queue_url
    done = drain(container().aws("sqs"), queue, lambda event: client.lambda_.invoke("backfill_worker", event).payload)
    return len(done.received)


def work_install_queues(client) -> int:
    """Everything an authorization queued: the message permit (reconcile queue), then the backfill (its own queue);
    returns how many messages were delivered."""
    return work_reconcile_queue(client) + work_backfill_queue(client)


def lose_queued_jobs(aws) -> None:
    """Empty the review queue: the jobs a push queued at once are lost (its sender died, the queue dead-lettered
    them) — for tests of what finds such tasks again, and tests that send their own jobs."""
    aws["sqs"].purge_queue(QueueUrl=aws["queue_url"])
