"""The sandbox marketplace over HTTP: TOP gateway, OAuth endpoints and the fault admin API.

Routes: ``/router/rest`` (GET or POST, system params in the query or the form body, as the SDKs split them),
``GET /oauth/authorize`` (``nick`` names the seller who logs in), ``POST /oauth/token`` (authorization codes only:
tokens are refreshed through ``taobao.top.auth.token.refresh``), ``POST|GET|DELETE /admin/faults``, and the sellers'
group robots: ``POST /robot/send`` (DingTalk) and ``POST /cgi-bin/webhook/send`` (WeCom), see ``sandbox.market.robots``.
The gateway answers XML unless the request asks for ``format=json``, as the platform does.
"""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode, urlsplit

from chalicelib.marketplace.errors import TopCode
from sandbox.market.apis import APIS
from sandbox.market.auth import AuthStore, OAuthRefusal, SellerAccount
from sandbox.market.clock import FakeClock
from sandbox.market.faults import Faults
from sandbox.market.protocol import (
    JSON_TYPE,
    XML_TYPE,
    ApiFault,
    answer_format,
    check_system_params,
    request_params,
    response_key,
    simplified,
    simplify,
    to_xml,
)
from sandbox.market.publisher import Publisher
from sandbox.market.robots import Robots
from sandbox.market.state import MarketState

JSON = "application/json;charset=UTF-8"
# Service-market messages concern the app, not a seller's shop: the platform sends them without a permit.
APP_TOPIC_PREFIXES = ("taobao_fuwu_", "fuwu_")


@dataclass(frozen=True)
class Reply:
    """An HTTP answer; ``truncate`` cuts the body and the connection halfway through."""

    status: int
    body: bytes
    content_type: str = JSON
    headers: tuple[tuple[str, str], ...] = ()
    truncate: bool = False


def _json_reply(status: int, payload: object) -> Reply:
    return Reply(status, json.dumps(payload, ensure_ascii=False).encode("utf-8"))


class SandboxMarketplace:
    """A marketplace that speaks TOP over HTTP on 127.0.0.1, with a world API for tests and the runner."""

    def __init__(
        self,
        app_key: str,
        app_secret: str,
        clock: Callable[[], datetime],
        *,
        rating_window_days: int = 15,
        explain_window_days: int = 30,
        quota_per_window: int | None = None,
        quota_window_seconds: int = 60,
        ban_seconds: int = 600,
        session_ttl_seconds: int = 86400,
        refresh_ttl_seconds: int = 30 * 86400,
        article_code: str = "FW_GOODS-1000000",
        seed: int = 0,
    ) -> None:
        self.app_key = app_key
        self._secret = app_secret
        self.clock = clock
        # Accept the clock itself or its bound ``now`` and expose the controllable object either way.
        owner = clock if isinstance(clock, FakeClock) else getattr(clock, "__self__", None)
        self.clock_ctl = owner if isinstance(owner, FakeClock) else None
        self.article_code = article_code
        self.state = MarketState(
            clock,
            article_code=article_code,
            rating_window_days=rating_window_days,
            explain_window_days=explain_window_days,
        )
        self.auth = AuthStore(
            clock,
            random.Random(seed),
            session_ttl_seconds=session_ttl_seconds,
            refresh_ttl_seconds=refresh_ttl_seconds,
        )
        self.faults = Faults(
            clock,
            seed=seed,
            quota_per_window=quota_per_window,
            quota_window_seconds=quota_window_seconds,
            ban_seconds=ban_seconds,
        )
        self.robots = Robots(clock)
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._requests = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    def __repr__(self) -> str:
        return f"SandboxMarketplace({self.base_url or 'stopped'})"

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> str:
        """Serve on an ephemeral port in a daemon thread; returns the base URL."""
        if self._server is not None:
            return self.base_url
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        server.daemon_threads = True
        self._server = server
        self.base_url = f"http://127.0.0.1:{server.server_address[1]}"
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="sandbox-market", daemon=True
        )
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> SandboxMarketplace:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def oauth_base_url(self) -> str:
        """Base of the OAuth endpoints (``/authorize``, ``/token``)."""
        return f"{self.base_url}/oauth"

    # -- world API --------------------------------------------------------------------------------

    def add_seller(self, nick: str, *, refreshable: bool = True) -> SellerAccount:
        """A seller who has authorized the app (``refreshable=False`` issues tokens that cannot be refreshed)."""
        return self.auth.add_seller(nick, refreshable=refreshable)

    def revoke(self, nick: str) -> None:
        """Make the seller's token refresh fail until the seller authorizes again."""
        self.auth.revoke(nick)

    def end_sessions(self, nick: str) -> None:
        """Invalidate the seller's sessions now."""
        self.auth.end_sessions(nick)

    def add_trade(self, seller_nick: str, **trade: object) -> dict:
        """Record a trade (see ``MarketState.add_trade``)."""
        return self.state.add_trade(seller_nick, **trade)  # type: ignore[arg-type]

    def set_trade_status(self, tid: int, status: str, end_time: datetime | None = None) -> dict:
        """Change a trade's status."""
        return self.state.set_trade_status(tid, status, end_time)

    def add_buyer_rate(self, tid: int, result: str, content: str = "", oid: int | None = None) -> dict:
        """The buyer rates the seller."""
        return self.state.add_buyer_rate(tid, result, content, oid)

    def memo_of(self, tid: int) -> tuple[str, int] | None:
        """The seller's memo and flag of a trade (``taobao.trade.memo.update``), if written."""
        return self.state.memo_of(tid)

    def rates_given(self, seller_nick: str | None = None) -> list[dict]:
        """Ratings given by sellers."""
        return self.state.rates_given(seller_nick)

    def post_counts(self, tid: int) -> int:
        """Accepted ``taobao.traderate.add`` calls for ``tid``."""
        return self.state.post_counts(tid)

    def add_order(self, **order: object) -> dict:
        """Record a service-market order (see ``MarketState.add_order``)."""
        return self.state.add_order(**order)  # type: ignore[arg-type]

    def sell_subscription(
        self,
        nick: str,
        item_code: str,
        biz_type: int,
        start: datetime,
        end: datetime,
        total_pay_fee: int,
        **extra: object,
    ) -> dict:
        """A paid subscription period for ``nick``; returns the order in its API (and billing message) form."""
        return self.state.add_order(
            nick=nick,
            item_code=item_code,
            biz_type=biz_type,
            order_cycle_start=start,
            order_cycle_end=end,
            total_pay_fee=total_pay_fee,
            **extra,  # type: ignore[arg-type]
        )

    def refund_order(self, order_id: int, refund_fee: int) -> dict:
        """Refund (part of) an order."""
        return self.state.refund_order(order_id, refund_fee)

    def refund(self, tid: int, status: str, **refund: object) -> dict:
        """A buyer's refund of a trade is created or moves on (see ``MarketState.refund``)."""
        return self.state.refund(tid, status, **refund)  # type: ignore[arg-type]

    # -- messages ---------------------------------------------------------------------------------

    def permitted(self, nick: str, topic: str | None = None) -> bool:
        """Whether the app called ``taobao.tmc.user.permit`` for ``nick`` (and ``topic`` is among its topics)."""
        return self.auth.permitted(nick, topic)

    def deliverable(self, message: dict) -> bool:
        """Whether the platform would push ``message`` to the app: service-market messages always (they concern
        the app itself); a seller's messages only after the app permitted them for that seller."""
        topic = str(message.get("topic") or "")
        if topic.startswith(APP_TOPIC_PREFIXES):
            return True
        return self.auth.permitted(str(message.get("user_nick") or ""), topic)

    def publisher(self, app_url: str, *, path: str = "/webhooks/marketplace", **options: object) -> Publisher:
        """A publisher that pushes to the app only what this marketplace would deliver (``deliverable``)."""
        return Publisher(
            app_url, self.app_key, self._secret, self.clock, path=path, deliverable=self.deliverable, **options
        )

    # -- gateway ----------------------------------------------------------------------------------

    def _request_id(self) -> str:
        with self._lock:
            self._requests += 1
            return f"sbx{self._requests:010x}"

    def handle_rest(self, params: dict[str, str]) -> Reply:
        """One ``/router/rest`` call: faults, quota, system checks, then the API."""
        method = params.get("method", "")
        with self._lock:
            self.calls[method] += 1
        plan = self.faults.plan(method)
        if plan.outage:
            return Reply(503, b"<html><body>503 Service Unavailable</body></html>", "text/html")
        if plan.latency_seconds:
            time.sleep(plan.latency_seconds)  # real time: latency exists to exercise client timeouts
        request_id = self._request_id()
        try:
            self.faults.admit()
            check_system_params(params, self.app_key, self._secret, self.clock())
            api = APIS.get(method)
            if api is None:
                raise ApiFault(TopCode.INVALID_METHOD, "Invalid method")
            nick = None
            if api.needs_session:
                if not params.get("session"):
                    raise ApiFault(TopCode.MISSING_SESSION, "Missing session")
                nick = self.auth.session_nick(params["session"])
            if plan.error is not None:
                if plan.error_after_effect:
                    api.handler(self, params, nick)  # the call takes effect; only its answer is an error
                raise plan.error
            inner = {**api.handler(self, params, nick), "request_id": request_id}
            payload: dict = simplified(inner) if simplify(params) else {response_key(method): inner}
        except ApiFault as fault:
            payload = fault.envelope(request_id)
        if plan.malformed:
            return Reply(200, b"<html><body>upstream proxy error</body></html>", "text/html")
        if answer_format(params) == "json":
            reply = Reply(200, _json_reply(200, payload).body, JSON_TYPE)
        else:
            reply = Reply(200, to_xml(payload), XML_TYPE)
        return Reply(200, reply.body, reply.content_type, truncate=True) if plan.truncated else reply

    # -- OAuth ------------------------------------------------------------------------------------

    def handle_authorize(self, query: dict[str, str]) -> Reply:
        """The seller logs in (``nick``) and grants access: 302 to ``redirect_uri`` with code and state."""
        try:
            if query.get("client_id") != self.app_key:
                raise OAuthRefusal(400, "invalid_client", "unknown client_id")
            if query.get("response_type") != "code":
                raise OAuthRefusal(400, "unsupported_response_type", "response_type must be code")
            redirect_uri, nick = query.get("redirect_uri"), query.get("nick")
            if not redirect_uri or not nick:
                raise OAuthRefusal(400, "invalid_request", "redirect_uri and nick (sandbox login) are required")
        except OAuthRefusal as refusal:
            return _json_reply(refusal.status, refusal.body())
        code = self.auth.authorize(nick, redirect_uri)
        back = {"code": code, "state": query.get("state", "")}
        location = f"{redirect_uri}{'&' if '?' in redirect_uri else '?'}{urlencode(back)}"
        return Reply(302, b"", headers=(("Location", location),))

    def handle_token(self, form: dict[str, str]) -> Reply:
        """``grant_type=authorization_code`` → the token response.

        ``grant_type=refresh_token`` is refused: the platform's documentation and SDKs refresh only through
        ``taobao.top.auth.token.refresh`` (service-market apps only), so the app must not depend on this path.
        """
        try:
            if form.get("client_id") != self.app_key or form.get("client_secret") != self._secret:
                raise OAuthRefusal(401, "invalid_client", "client authentication failed")
            if form.get("grant_type") != "authorization_code":
                raise OAuthRefusal(400, "unsupported_grant_type", "grant_type is not supported")
            body = self.auth.exchange(form.get("code", ""), form.get("redirect_uri", ""))
        except OAuthRefusal as refusal:
            return _json_reply(refusal.status, refusal.body())
        return _json_reply(200, body)

    # -- admin ------------------------------------------------------------------------------------

    def handle_admin_faults(self, verb: str, body: bytes) -> Reply:
        """Set (POST), show (GET) or clear (DELETE) injected faults."""
        if verb == "DELETE":
            self.faults.clear()
        elif verb == "POST":
            try:
                data = json.loads(body or b"{}")
                if not isinstance(data, dict):
                    raise ValueError("body must be a JSON object")
                self.faults.set_from_json(data)
            except (ValueError, TypeError, IndexError) as exc:
                return _json_reply(400, {"error": str(exc)})
        return _json_reply(200, self.faults.describe())


def _handler_for(market: SandboxMarketplace) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the client's connection pool expects

        def setup(self) -> None:
            super().setup()
            # Headers and body go out in separate writes; without this, delayed ACKs add ~40 ms per call.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, format: str, *args: object) -> None:
            """Requests carry tokens; the sandbox keeps no access log."""

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _route(self, verb: str) -> None:
            url = urlsplit(self.path)
            body = self._body()
            content_type = self.headers.get("Content-Type", "")
            if url.path == "/router/rest" and verb in ("GET", "POST"):
                reply = market.handle_rest(request_params(url.query, body, content_type))
            elif url.path == "/oauth/authorize" and verb == "GET":
                reply = market.handle_authorize(dict(parse_qsl(url.query)))
            elif url.path == "/oauth/token" and verb == "POST":
                reply = market.handle_token(request_params(url.query, body, content_type))
            elif url.path == "/admin/faults":
                reply = market.handle_admin_faults(verb, body)
            elif url.path == "/robot/send" and verb == "POST":
                reply = _json_reply(200, market.robots.dingtalk(url.query, body))
            elif url.path == "/cgi-bin/webhook/send" and verb == "POST":
                reply = _json_reply(200, market.robots.wecom(url.query, body))
            else:
                reply = _json_reply(404, {"error": "not found"})
            self._send(reply)

        def _send(self, reply: Reply) -> None:
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(reply.body)))
                _send_headers(self, reply.headers)
                self.end_headers()
                if reply.truncate:
                    self.wfile.write(reply.body[: len(reply.body) // 2])
                    self.close_connection = True
                else:
                    self.wfile.write(reply.body)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        def do_GET(self) -> None:
            self._route("GET")

        def do_POST(self) -> None:
            self._route("POST")

        def do_DELETE(self) -> None:
            self._route("DELETE")

    return Handler


def _send_headers(handler: BaseHTTPRequestHandler, headers: Iterable[tuple[str, str]]) -> None:
    for name, value in headers:
        handler.send_header(name, value)
