"""TOP (Taobao Open Platform) client: signed form POSTs to ``{base}/router/rest``, typed results.

Only ``Transient`` failures are retried here (bounded, jittered exponential backoff through the injected
``sleep``); every other error is raised at once for the caller's policy. Retrying a write is safe because a
repeated ``taobao.traderate.add`` is refused, and the review worker reads the trade's rating back before it
decides what a refusal means.

Requests carry the system parameters the platform requires (``method, app_key, timestamp, v, sign_method, sign``,
``session`` for a seller's APIs) and ``format=json`` (the platform answers XML without it). A parameter whose
value is None or empty is never sent: the SDKs disagree on how to sign one, so it is left out of the request and
the signature alike.
"""

from __future__ import annotations

import itertools
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import urllib3

from chalicelib.marketplace import signing
from chalicelib.marketplace.errors import (
    SUB_CLIENT_MALFORMED,
    SUB_CLIENT_TRANSPORT,
    BusinessError,
    GrantRefused,
    SessionInvalid,
    Transient,
    classify,
    classify_http_status,
)
from chalicelib.marketplace.models import (
    Refund,
    Subscription,
    TokenGrant,
    Trade,
    TradeItems,
    TradeMemoUpdated,
    TradeRate,
    TradeRateAdded,
    VasOrder,
    format_top_time,
    grant_from_token_result,
    top_items,
)

logger = logging.getLogger(__name__)

MAX_PAGE_NO = 200  # traderates.get refuses pages beyond 200
MAX_RATES_PER_WINDOW = 1500  # traderates.get serves at most 1,500 records of one time window
TRADE_RATE_FIELDS = (
    "tid,oid,role,nick,result,created,rated_nick,item_title,item_price,content,reply,num_iid,valid_score"
)
TRADE_FIELDS = (
    "tid,status,title,buyer_nick,buyer_open_uid,end_time,modified,payment,seller_rate,buyer_rate,"
    "orders.oid,orders.title,orders.status,orders.num_iid"
)
TRADE_ITEM_FIELDS = "orders.num_iid,orders.title"
REFUND_FIELDS = "refund_id,tid,oid,status,modified,refund_fee,refund_phase"
INCREMENT_WINDOW = timedelta(days=1)  # trades.sold.increment.get accepts at most one day per query
TIME_STEP = timedelta(seconds=1)  # marketplace times have second precision and ranges are inclusive


def split_on_page_limit(
    page: Callable[[datetime, datetime, int], tuple[list[Any], bool]],
    start: datetime,
    end: datetime,
    *,
    key: Callable[[Any], object],
    page_size: int,
    max_records: int | None = None,
) -> Iterator[Any]:
    """Every item of [start, end] from ``page(lo, hi, page_no)`` (a page and whether another follows).

    A window serves at most ``MAX_PAGE_NO`` pages (20,000 trades at 100 a page), and some APIs fewer records
    (``max_records``: 1,500 ratings for ``taobao.traderates.get``). A window whose answer reaches its limit may hold
    more than it served, whatever ``has_next`` says, so it is read again as two halves, down to a second: a page
    past the limit is never asked for, and one that reaches past it and comes back empty or refused means the same
    (the platform's answer there is not documented; neither leads to a silent stop). Items met twice (before and
    after a split) are yielded once, in window order.
    """
    limit = MAX_PAGE_NO * page_size if max_records is None else min(max_records, MAX_PAGE_NO * page_size)
    seen: set[object] = set()
    windows = [(start, end)]
    while windows:
        lo, hi = windows.pop()
        cut = False
        for page_no in itertools.count(1):
            offset = (page_no - 1) * page_size
            if offset >= limit:
                cut = True
                break
            try:
                items, more = page(lo, hi, page_no)
            except BusinessError:
                if offset + page_size <= limit:
                    raise
                cut = True  # refused at the limit: read as halves
                break
            for item in items:
                if key(item) not in seen:
                    seen.add(key(item))
                    yield item
            reaches_limit = offset + page_size > limit
            if offset + len(items) >= limit or (reaches_limit and not items):
                cut = True
                break
            if not more:
                break
        if cut:
            parts = halves(lo, hi)
            if parts is None:  # one second holding more than the limit cannot be split further
                logger.warning("one second holds more records than a window serves", extra={"limit": limit})
            else:
                windows += [parts[1], parts[0]]


def newest_first(
    page: Callable[[datetime, datetime, int], tuple[list[Any], int]],
    start: datetime,
    end: datetime,
    *,
    key: Callable[[Any], object],
    page_size: int,
) -> Iterator[Any]:
    """Every item of [start, end] from an API that lists the newest change first, ``page(lo, hi, page_no)``
    answering a page and the window's total.

    The pages are read from the last one back, as ``taobao.trades.sold.increment.get`` documents
    (必须采用倒序的分页方式): an item that changes during the read leaves the window (its new time is past ``end``),
    which moves the items behind it one place towards page 1, onto pages not read yet, never onto one already read.
    Page 1 is read first for the total, and again at the end. A window with more than the page limit is split
    before it is read.
    """
    seen: set[object] = set()
    windows = [(start, end)]
    while windows:
        lo, hi = windows.pop()
        first, total = page(lo, hi, 1)
        if total > MAX_PAGE_NO * page_size:
            parts = halves(lo, hi)
            if parts is not None:
                windows += [parts[1], parts[0]]
                continue
            logger.warning("one second holds more records than a window serves", extra={"limit": total})
        last = min(MAX_PAGE_NO, max(1, -(-total // page_size)))
        for page_no in range(last, 0, -1):
            items = first if last == 1 else page(lo, hi, page_no)[0]
            for item in items:
                if key(item) not in seen:
                    seen.add(key(item))
                    yield item


def halves(lo: datetime, hi: datetime) -> tuple[tuple[datetime, datetime], tuple[datetime, datetime]] | None:
    """[lo, hi] as two inclusive windows at second precision (the earlier first), or None when it spans less
    than two seconds and cannot be split."""
    if hi - lo < 2 * TIME_STEP:
        return None
    middle = lo + (hi - lo) / 2
    middle -= timedelta(microseconds=middle.microsecond)
    return (lo, middle), (middle + TIME_STEP, hi)


def _rate_key(item: Mapping[str, Any]) -> object:
    """A rating's identity in a query's answer (a trade is rated once per sub-order and side)."""
    return (item.get("tid"), item.get("oid"), item.get("role"), item.get("created"))


def _item_ref(item: object) -> str | None:
    """An item's id (tid, refund or order id) when it holds a short one of ASCII digits, for the operator's record."""
    if not isinstance(item, Mapping):
        return None
    for name in ("tid", "refund_id", "order_id"):
        value = item.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 32:
            return value
    return None


@dataclass
class CallStats:
    """Counters for benchmarks: logical calls, HTTP attempts and retries (a worker calls from several threads)."""

    calls: int = 0
    attempts: int = 0
    retries: int = 0
    unreadable: int = 0  # items of an answer skipped because they could not be read
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, name: str) -> None:
        """Count one more ``calls``, ``attempts``, ``retries`` or ``unreadable``."""
        with self._lock:
            setattr(self, name, getattr(self, name) + 1)


def _param_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return format_top_time(value)
    return str(value)


def api_params(params: Mapping[str, object]) -> dict[str, str]:
    """The API parameters as sent: rendered as text, without any whose value is None or empty."""
    rendered = {name: _param_value(value) for name, value in params.items() if value is not None}
    return {name: value for name, value in rendered.items() if name and value != ""}


def _decode_response(status: int, data: bytes) -> dict[str, Any]:
    """Inner dict of the single ``*_response`` key, or the classified error."""
    try:
        payload = json.loads(data)
    except ValueError:
        payload = None
    if isinstance(payload, dict) and isinstance(payload.get("error_response"), dict):
        raise classify(payload["error_response"])
    if status != 200:
        raise classify_http_status(status)
    if not isinstance(payload, dict):
        raise Transient(None, "response is not a JSON object", SUB_CLIENT_MALFORMED)
    keys = [key for key in payload if key.endswith("_response")]
    if len(keys) != 1 or not isinstance(payload[keys[0]], dict):
        raise Transient(None, "response has no single *_response object", SUB_CLIENT_MALFORMED)
    return payload[keys[0]]


class TopClient:
    """Client of the TOP gateway; going live is a matter of ``base_url``, ``app_key`` and ``app_secret``."""

    def __init__(
        self,
        base_url: str,
        app_key: str,
        app_secret: str,
        *,
        now: Callable[[], datetime],
        sign_method: str = "md5",
        connect_timeout: float = 2.0,
        read_timeout: float = 5.0,
        max_retries: int = 2,
        backoff_base: float = 0.2,
        sleep: Callable[[float], None] = time.sleep,
        pool: urllib3.PoolManager | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if sign_method not in signing.SIGN_METHODS:
            raise ValueError(f"unsupported sign_method: {sign_method!r}")
        self._url = base_url.rstrip("/") + "/router/rest"
        self._app_key = app_key
        self._secret = app_secret
        self._now = now
        self._sign_method = sign_method
        self._timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
        self._max_retries = max_retries
        self._backoff_base = backoff_base
        self._sleep = sleep
        self._pool = pool or urllib3.PoolManager(num_pools=1, retries=False)
        self._rng = rng or random.Random()
        self.stats = CallStats()
        # Told of every item of an answer that is skipped as unreadable: ``(method, reason, ref)``, ``ref`` the
        # item's id when it has a readable one. Set by whoever can record it where an operator sees it.
        self.on_unreadable: Callable[[str, str, str | None], None] | None = None

    def __repr__(self) -> str:
        return f"TopClient({self._url!r}, app_key={self._app_key!r})"

    # -- protocol -------------------------------------------------------------------------------

    def call(
        self,
        method: str,
        params: Mapping[str, object] | None = None,
        session: str | None = None,
        *,
        retry: bool = True,
    ) -> dict:
        """Call ``method`` and return the inner dict of its ``*_response``; raise a ``MarketplaceError``.

        ``retry=False`` for a call that must not be repeated blindly (a refresh may spend its refresh token).
        """
        self.stats.add("calls")
        attempt = 0
        while True:
            self.stats.add("attempts")
            try:
                return self._call_once(method, params or {}, session)
            except Transient:
                if not retry or attempt >= self._max_retries:
                    raise
                self._sleep(self._backoff(attempt))
                attempt += 1
                self.stats.add("retries")

    def _backoff(self, attempt: int) -> float:
        # Full exponential step with jitter in [50%, 100%] so retrying containers do not align.
        return self._backoff_base * (2**attempt) * self._rng.uniform(0.5, 1.0)

    def _signed_params(self, method: str, params: Mapping[str, object], session: str | None) -> dict[str, str]:
        request = {
            "method": method,
            "app_key": self._app_key,
            "timestamp": format_top_time(self._now()),
            "format": "json",
            "v": "2.0",
            "sign_method": self._sign_method,
        }
        if session:
            request["session"] = session
        request.update(api_params(params))
        request["sign"] = signing.sign(request, self._secret, self._sign_method)
        return request

    def _call_once(self, method: str, params: Mapping[str, object], session: str | None) -> dict:
        body = urlencode(self._signed_params(method, params, session))

        try:
            response = self._pool.request(
                "POST",
                self._url,
                body=body.encode("utf-8"),
                headers={"Content-Type": "application/x-www-form-urlencoded;charset=utf-8"},
                timeout=self._timeout,
                retries=False,
            )
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise Transient(None, f"{type(exc).__name__} calling {method}", SUB_CLIENT_TRANSPORT) from exc
        return _decode_response(response.status, response.data)

    def _typed(self, factory: Callable[[Mapping[str, Any]], Any], data: Mapping[str, Any]) -> Any:
        try:
            return factory(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise Transient(None, f"unreadable result: {type(exc).__name__}", SUB_CLIENT_MALFORMED) from exc

    def _readable(self, method: str, factory: Callable[[Mapping[str, Any]], Any], items: list[Any]) -> list[Any]:
        """The items of a page that read as ``factory``'s type. A malformed or hostile one (a missing or mistyped
        field, a time outside 2000–2099, digits of another script) is skipped and reported, never failing the page:
        one bad trade must not stop a seller's reads."""
        readable = []
        for item in items:
            try:
                readable.append(factory(item))
            except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError) as exc:
                self._skipped(method, item, exc)
        return readable

    def _skipped(self, method: str, item: object, exc: Exception) -> None:
        # The reason names the field or the error type, never a value: an item may hold buyer data.
        reason = f"missing {exc.args[0]!s:.40}" if isinstance(exc, KeyError) and exc.args else type(exc).__name__
        ref = _item_ref(item)
        self.stats.add("unreadable")
        logger.warning("unreadable item skipped", extra={"method": method, "reason": reason, "ref": ref})
        if self.on_unreadable is not None:
            self.on_unreadable(method, reason, ref)

    def _page(
        self, method: str, params: dict[str, object], session: str | None, list_key: str, item_key: str, page_no: int
    ) -> tuple[list[Mapping[str, Any]], bool]:
        """One page of items (``use_has_next=true``) and whether another follows."""
        data = self.call(method, {**params, "page_no": page_no, "use_has_next": True}, session)
        items = self._typed(lambda d: top_items(d.get(list_key), item_key), data)
        return items, bool(items) and bool(data.get("has_next"))

    def _pages(
        self, method: str, params: dict[str, object], session: str | None, list_key: str, item_key: str
    ) -> Iterator[Mapping[str, Any]]:
        """Items over ``page_no`` pages, following ``has_next`` (``use_has_next=true``): for a query that is not a
        time window (one trade's ratings), which never comes near the page limit."""
        for page_no in range(1, MAX_PAGE_NO + 1):
            items, more = self._page(method, params, session, list_key, item_key, page_no)
            yield from items
            if not more:
                return

    # -- ratings --------------------------------------------------------------------------------

    def traderate_add(
        self,
        session: str,
        tid: int,
        oid: int | None = None,
        result: str = "good",
        role: str = "seller",
        content: str = "",
        anony: bool = False,
    ) -> TradeRateAdded:
        """Rate a trade (or one sub-order) in the seller's name (an empty ``content`` is not sent)."""
        params = {"tid": tid, "oid": oid, "result": result, "role": role, "content": content, "anony": anony}
        data = self.call("taobao.traderate.add", params, session)
        return self._typed(lambda d: TradeRateAdded.from_api(d["trade_rate"]), data)

    def traderate_explain_add(self, session: str, oid: int, reply: str) -> bool:
        """Post the seller's reply (explanation) to a buyer's rating of ``oid``."""
        data = self.call("taobao.traderate.explain.add", {"oid": oid, "reply": reply}, session)
        return bool(data.get("is_success"))

    def trade_memo_update(self, session: str, tid: int, *, memo: str, flag: int) -> TradeMemoUpdated:
        """Set the seller's memo of trade ``tid`` and its flag colour (0 grey, 1 red, 2 yellow, 3 green, 4 blue,
        5 pink). The memo's byte limit is a marketplace rule (``Rules.memo_max_bytes``), checked by the caller."""
        data = self.call("taobao.trade.memo.update", {"tid": tid, "memo": memo, "flag": flag}, session)
        return self._typed(lambda d: TradeMemoUpdated.from_api(d["trade"]), data)

    def traderates_get(
        self,
        session: str,
        *,
        rate_type: str = "give",
        role: str = "seller",
        start_date: datetime | None = None,
        end_date: datetime | None = None,
        tid: int | None = None,
        page_size: int = 40,
    ) -> Iterator[TradeRate]:
        """Ratings given (``give``) or received (``get``) by the session's user, where the rater is ``role``."""
        params: dict[str, object] = {
            "fields": TRADE_RATE_FIELDS,
            "rate_type": rate_type,
            "role": role,
            "start_date": start_date,
            "end_date": end_date,
            "tid": tid,
            "page_size": page_size,
        }
        method, keys = "taobao.traderates.get", ("trade_rates", "trade_rate")
        if start_date is None or end_date is None:
            items = self._pages(method, params, session, *keys)
        else:

            def page(lo: datetime, hi: datetime, page_no: int) -> tuple[list[Mapping[str, Any]], bool]:
                return self._page(method, {**params, "start_date": lo, "end_date": hi}, session, *keys, page_no)

            items = split_on_page_limit(
                page, start_date, end_date, key=_rate_key, page_size=page_size, max_records=MAX_RATES_PER_WINDOW
            )
        for item in items:
            yield from self._readable(method, TradeRate.from_api, [item])

    def rating_given(self, session: str, tid: int, oid: int | None = None) -> TradeRate | None:
        """The seller's own rating of ``tid`` (of sub-order ``oid`` when given), read back; None when absent."""
        for rate in self.traderates_get(session, rate_type="give", role="seller", tid=tid):
            if rate.tid == tid and (oid is None or rate.oid in (None, oid)):
                return rate
        return None

    # -- trades ---------------------------------------------------------------------------------

    def trade_items(self, session: str, tid: int) -> TradeItems:
        """The items of one of the seller's trades (``taobao.trade.fullinfo.get``, sub-orders' ids and titles
        only): what a TradeSuccess message does not carry."""
        data = self.call("taobao.trade.fullinfo.get", {"tid": tid, "fields": TRADE_ITEM_FIELDS}, session)
        return self._typed(lambda d: TradeItems.from_api(d["trade"]), data)

    def trades_sold_increment_page(
        self,
        session: str,
        start_modified: datetime,
        end_modified: datetime,
        page_no: int,
        *,
        status: str | None = "TRADE_FINISHED",
        page_size: int = 100,
    ) -> tuple[list[Trade], int]:
        """One page of trades modified in [start, end] (at most a day apart), newest change first as the platform
        lists them, and how many the window holds (``total_results``)."""
        params: dict[str, object] = {
            "fields": TRADE_FIELDS,
            "start_modified": start_modified,
            "end_modified": end_modified,
            "status": status,
            "page_no": page_no,
            "page_size": page_size,
        }
        data = self.call("taobao.trades.sold.increment.get", params, session)
        items = self._typed(lambda d: top_items(d.get("trades"), "trade"), data)
        total = self._typed(lambda d: int(d.get("total_results") or 0), data)
        return self._readable("taobao.trades.sold.increment.get", Trade.from_api, items), max(total, len(items))

    def trades_sold_increment_get(
        self,
        session: str,
        start_modified: datetime,
        end_modified: datetime,
        status: str | None = "TRADE_FINISHED",
        page_size: int = 100,
    ) -> Iterator[Trade]:
        """Trades modified in [start, end], queried one day at a time as the platform requires, each day's pages
        read from the last one back (``newest_first``).

        Windows are inclusive on both ends, so each starts one second after the previous one ends.
        """
        window_start = start_modified
        while window_start <= end_modified:
            window_end = min(window_start + INCREMENT_WINDOW, end_modified)

            def page(lo: datetime, hi: datetime, page_no: int) -> tuple[list[Trade], int]:
                return self.trades_sold_increment_page(session, lo, hi, page_no, status=status, page_size=page_size)

            yield from newest_first(page, window_start, window_end, key=lambda trade: trade.tid, page_size=page_size)
            window_start = window_end + TIME_STEP

    # -- refunds --------------------------------------------------------------------------------

    def refunds_receive_page(
        self, session: str, start_modified: datetime, end_modified: datetime, page_no: int, *, page_size: int = 100
    ) -> tuple[list[Refund], bool]:
        """One page of the refunds the seller received, modified in [start, end], and whether another follows."""
        params: dict[str, object] = {
            "fields": REFUND_FIELDS,
            "start_modified": start_modified,
            "end_modified": end_modified,
            "page_size": page_size,
        }
        items, more = self._page("taobao.refunds.receive.get", params, session, "refunds", "refund", page_no)
        return self._readable("taobao.refunds.receive.get", Refund.from_api, items), more

    def refunds_receive_get(
        self, session: str, start_modified: datetime, end_modified: datetime, *, page_size: int = 100
    ) -> Iterator[Refund]:
        """Every refund the seller received, modified in [start, end], page by page (split like the trades
        wherever the page limit would cut the window off)."""

        def page(lo: datetime, hi: datetime, page_no: int) -> tuple[list[Refund], bool]:
            return self.refunds_receive_page(session, lo, hi, page_no, page_size=page_size)

        yield from split_on_page_limit(
            page, start_modified, end_modified, key=lambda refund: refund.refund_id, page_size=page_size
        )

    # -- messages (TMC) -------------------------------------------------------------------------

    def tmc_user_permit(self, session: str, topics: tuple[str, ...] = ()) -> bool:
        """Open the seller's messages to the app. Without ``topics`` (the usual call) the seller gets every topic
        the app subscribed; given, they replace the seller's list."""
        data = self.call("taobao.tmc.user.permit", {"topics": ",".join(topics)}, session)
        return bool(data.get("is_success"))

    def tmc_user_cancel(self, nick: str) -> bool:
        """Stop the seller's messages (no session: the seller may have left); False when none were open."""
        data = self.call("taobao.tmc.user.cancel", {"nick": nick})
        return bool(data.get("is_success"))

    # -- authorization --------------------------------------------------------------------------

    def auth_token_refresh(self, refresh_token: str) -> TokenGrant:
        """A new grant from a refresh token, the way the official SDKs refresh (``taobao.top.auth.token.refresh``;
        only service-market apps may). The answer's ``token_result`` is a JSON string holding the grant."""
        # Not retried here: if the platform spent the refresh token on a call whose answer was lost, a blind
        # repeat would be refused; the hourly job tries again with what it has.
        try:
            data = self.call("taobao.top.auth.token.refresh", {"refresh_token": refresh_token}, retry=False)
        except (BusinessError, SessionInvalid) as exc:
            # Whatever business reason the platform gives (its sub_codes here are not published), the grant is dead.
            raise GrantRefused(exc.code, exc.msg, exc.sub_code, exc.sub_msg, exc.request_id) from exc
        return self._typed(lambda d: grant_from_token_result(d["token_result"], self._now()), data)

    # -- service market -------------------------------------------------------------------------

    def vas_subscribe_get(self, article_code: str, nick: str) -> list[Subscription]:
        """The seller's current subscriptions (item code and deadline) to the app ``article_code``."""
        data = self.call("taobao.vas.subscribe.get", {"article_code": article_code, "nick": nick})
        items = self._typed(lambda d: top_items(d.get("article_user_subscribes"), "article_user_subscribe"), data)
        return [self._typed(Subscription.from_api, item) for item in items]

    def vas_order_search(
        self,
        article_code: str,
        *,
        start_created: datetime,
        end_created: datetime,
        nick: str | None = None,
        page_size: int = 100,
    ) -> Iterator[VasOrder]:
        """Billing orders of the app created in [start, end], optionally for one seller."""
        params: dict[str, object] = {
            "article_code": article_code,
            "start_created": start_created,
            "end_created": end_created,
            "nick": nick,
            "page_size": page_size,
        }

        def page(lo: datetime, hi: datetime, page_no: int) -> tuple[list[VasOrder], bool]:
            data = self.call(
                "taobao.vas.order.search", {**params, "start_created": lo, "end_created": hi, "page_no": page_no}
            )
            items = self._typed(lambda d: top_items(d.get("article_biz_orders"), "article_biz_order"), data)
            # This API reports a total instead of has_next; a short page also means the end.
            total = self._typed(lambda d: int(d.get("total_item") or 0), data)
            more = len(items) == page_size and page_no * page_size < total
            return self._readable("taobao.vas.order.search", VasOrder.from_api, items), more

        yield from split_on_page_limit(
            page, start_created, end_created, key=lambda order: order.order_id, page_size=page_size
        )
