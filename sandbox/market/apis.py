"""The TOP methods the sandbox serves, each turning request params into the inner response dict."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from sandbox.market.protocol import (
    bool_param,
    choice_param,
    int_param,
    invalid,
    missing,
    required,
    time_param,
)
from sandbox.market.state import RawItem

if TYPE_CHECKING:
    from sandbox.market.server import SandboxMarketplace

MAX_INCREMENT_WINDOW = timedelta(days=1)
MAX_PAGE_NO = 200  # the last page any query serves
MAX_RATES_PER_WINDOW = 1500  # traderates.get serves at most this many records of one query
# What traderates.get answers for a page reaching past its record limit: the records up to it and then empty pages
# ("empty"), or a refusal ("error"). The platform's answer is not documented, so the client is tested against both.
PAST_RATE_LIMIT = "empty"
Params = Mapping[str, str]


@dataclass(frozen=True)
class Api:
    handler: Callable[[SandboxMarketplace, Params, str | None], dict]
    needs_session: bool


def _fields(params: Params) -> set[str]:
    return {name.strip() for name in required(params, "fields").split(",") if name.strip()}


def _project(item: dict, fields: set[str]) -> dict:
    """Keep the requested fields; ``orders.x`` fields select sub-order fields."""
    kept = {name: value for name, value in item.items() if name in fields and value is not None}
    order_fields = {name.split(".", 1)[1] for name in fields if name.startswith("orders.")}
    if "orders" in item and (order_fields or "orders" in fields):
        orders = item["orders"]["order"]
        if order_fields:
            orders = [{k: v for k, v in order.items() if k in order_fields} for order in orders]
        kept["orders"] = {"order": orders}
    return kept


def _page(items: list[dict], params: Params, list_key: str, item_key: str, default_size: int, max_size: int) -> dict:
    # Every paged API refuses pages beyond the last one it serves (documented for traderates.get; held to for all).
    page_no = int_param(params, "page_no", 1, low=1, high=MAX_PAGE_NO)
    page_size = int_param(params, "page_size", default_size, low=1, high=max_size)
    start = (page_no - 1) * page_size
    page = items[start : start + page_size]
    response: dict = {}
    if page:  # the platform leaves an empty list out altogether
        response[list_key] = {item_key: page}
    if bool_param(params, "use_has_next"):
        response["has_next"] = start + page_size < len(items)
    else:
        response["total_results"] = len(items)
    return response


def traderate_add(sandbox: SandboxMarketplace, params: Params, nick: str | None) -> dict:
    tid = int_param(params, "tid")
    if tid is None:
        raise missing("tid")
    result = choice_param(params, "result", ("good", "neutral", "bad"))
    choice_param(params, "role", ("seller",))  # required (the Java SDK's TraderateAddRequest checks it)
    rate = sandbox.state.rate(
        nick or "",
        tid,
        int_param(params, "oid"),
        result,
        params.get("content", ""),
        bool_param(params, "anony"),
    )
    return {"trade_rate": {"tid": rate.tid, "oid": rate.oid, "created": rate.as_api()["created"]}}


def traderate_explain_add(sandbox: SandboxMarketplace, params: Params, nick: str | None) -> dict:
    oid = int_param(params, "oid")
    if oid is None:
        raise missing("oid")
    sandbox.state.explain(nick or "", oid, required(params, "reply"))
    return {"is_success": True}


def trade_memo_update(sandbox: SandboxMarketplace, params: Params, nick: str | None) -> dict:
    tid = int_param(params, "tid")
    if tid is None:
        raise missing("tid")
    flag = int_param(params, "flag")
    trade = sandbox.state.update_memo(nick or "", tid, params.get("memo"), flag, bool_param(params, "reset"))
    return {"trade": trade}


def traderates_get(sandbox: SandboxMarketplace, params: Params, nick: str | None) -> dict:
    fields = _fields(params)
    page_no = int_param(params, "page_no", 1, low=1, high=MAX_PAGE_NO)
    rates = sandbox.state.rates_for(
        nick or "",
        rate_type=choice_param(params, "rate_type", ("give", "get")),
        role=choice_param(params, "role", ("seller", "buyer")),
        result=params.get("result") or None,
        start=time_param(params, "start_date"),
        end=time_param(params, "end_date"),
        tid=int_param(params, "tid"),
    )
    projected = [_project(rate, fields) for rate in rates]
    page_size = int_param(params, "page_size", 40, low=1, high=150) or 40
    if page_no * page_size > MAX_RATES_PER_WINDOW and PAST_RATE_LIMIT == "error":
        raise invalid("page_no", f"at most {MAX_RATES_PER_WINDOW} records of one query are served")
    # Records past the limit are not served: the page that crosses it is cut short, and those after it are empty.
    served = projected[:MAX_RATES_PER_WINDOW]
    return _page(served, {**params, "page_no": str(page_no)}, "trade_rates", "trade_rate", 40, 150)


def trades_sold_increment_get(sandbox: SandboxMarketplace, params: Params, nick: str | None) -> dict:
    fields = _fields(params)
    start = time_param(params, "start_modified")
    end = time_param(params, "end_modified")
    if start is None:
        raise missing("start_modified")
    if end is None:
        raise missing("end_modified")
    if end < start or end - start > MAX_INCREMENT_WINDOW:
        raise invalid("end_modified", "start_modified and end_modified must be within one day")
    trades = sandbox.state.trades_modified(nick or "", start, end, params.get("status") or None)
    # A raw (hostile) item is served as it is, unprojected.
    projected = [t.item if isinstance(t, RawItem) else _project(t, fields) for t in trades]
    return _page(projected, params, "trades", "trade", 40, 100)


def trade_fullinfo_get(sandbox: SandboxMarketplace, params: Params, nick: str | None) -> dict:
    """One of the seller's own trades with the requested fields (``fields`` and ``tid`` required); another
    seller's trade is refused as one that does not exist."""
    fields = _fields(params)
    tid = int_param(params, "tid")
    if tid is None:
        raise missing("tid")
    return {"trade": _project(sandbox.state.seller_trade_api(nick or "", tid), fields)}


def vas_subscribe_get(sandbox: SandboxMarketplace, params: Params, nick: str | None) -> dict:
    subscriptions = sandbox.state.subscriptions(required(params, "article_code"), required(params, "nick"))
    return {"article_user_subscribes": {"article_user_subscribe": subscriptions}} if subscriptions else {}


def vas_order_search(sandbox: SandboxMarketplace, params: Params, nick: str | None) -> dict:
    orders = sandbox.state.orders_created(
        required(params, "article_code"),
        time_param(params, "start_created"),
        time_param(params, "end_created"),
        params.get("nick") or None,
    )
    page = _page(orders, {**params, "use_has_next": "false"}, "article_biz_orders", "article_biz_order", 20, 200)
    page["total_item"] = page.pop("total_results")
    return page


def refunds_receive_get(sandbox: SandboxMarketplace, params: Params, nick: str | None) -> dict:
    fields = _fields(params)
    refunds = sandbox.state.refunds_modified(
        nick or "",
        time_param(params, "start_modified"),
        time_param(params, "end_modified"),
        params.get("status") or None,
    )
    return _page([_project(r, fields) for r in refunds], params, "refunds", "refund", 40, 100)


def tmc_user_permit(sandbox: SandboxMarketplace, params: Params, nick: str | None) -> dict:
    topics = tuple(t.strip() for t in (params.get("topics") or "").split(",") if t.strip())
    sandbox.auth.permit(nick or "", topics or None)
    return {"is_success": True}


def tmc_user_cancel(sandbox: SandboxMarketplace, params: Params, nick: str | None) -> dict:
    return {"is_success": sandbox.auth.cancel_permit(required(params, "nick"))}


def top_auth_token_refresh(sandbox: SandboxMarketplace, params: Params, nick: str | None) -> dict:
    grant = sandbox.auth.refresh(required(params, "refresh_token"))
    return {"token_result": json.dumps(grant, ensure_ascii=False)}


APIS: dict[str, Api] = {
    "taobao.traderate.add": Api(traderate_add, needs_session=True),
    "taobao.traderate.explain.add": Api(traderate_explain_add, needs_session=True),
    "taobao.traderates.get": Api(traderates_get, needs_session=True),
    "taobao.trade.memo.update": Api(trade_memo_update, needs_session=True),
    "taobao.trades.sold.increment.get": Api(trades_sold_increment_get, needs_session=True),
    "taobao.trade.fullinfo.get": Api(trade_fullinfo_get, needs_session=True),
    "taobao.vas.subscribe.get": Api(vas_subscribe_get, needs_session=False),
    "taobao.vas.order.search": Api(vas_order_search, needs_session=False),
    "taobao.refunds.receive.get": Api(refunds_receive_get, needs_session=True),
    "taobao.tmc.user.permit": Api(tmc_user_permit, needs_session=True),
    "taobao.tmc.user.cancel": Api(tmc_user_cancel, needs_session=False),
    "taobao.top.auth.token.refresh": Api(top_auth_token_refresh, needs_session=False),
}
