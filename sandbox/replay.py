"""Replays a simulated market day through a running local stack and checks what the app did."""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode, urljoin

import urllib3

from chalicelib.config import DINGTALK_ROBOT_URL, WECOM_ROBOT_URL
from chalicelib.marketplace import topics
from chalicelib.marketplace.messages import build_message
from sandbox.chaos import ChaosPlan
from sandbox.market.state import refund_id_for
from sandbox.stack import LocalStack
from sandbox.world import (
    ITEM_IDS,
    Purchase,
    SellerSpec,
    TradeSpec,
    WorldEvent,
    operator_resume_at,
    purchases_of,
    rules_override,
)

# The shops' robots: a signing secret for the DingTalk ones, and a token/key per shop and channel.
ROBOT_SECRET = "SEC" + "5eedf00d" * 6


def robot_token(nick: str, channel: str) -> str:
    """The replay's access token (DingTalk) or key (WeCom) of a shop's robot."""
    return hashlib.sha256(f"{channel}:{nick}".encode()).hexdigest()[:32]


TOPIC_OF = {
    "trade_success": topics.TRADE_SUCCESS,
    "buyer_rated": topics.TRADE_RATED,
    "refund_created": topics.REFUND_CREATED,
    "refund_closed": topics.REFUND_CLOSED,
    "refund_succeeded": topics.REFUND_SUCCESS,
    "buyer_paid": topics.TRADE_BUYER_PAY,
}
# The marketplace's refund status after each world event (``taobao.refunds.receive.get``).
REFUND_STATUS = {"refund_created": "WAIT_SELLER_AGREE", "refund_closed": "CLOSED", "refund_succeeded": "SUCCESS"}
TRADING_TICK = timedelta(minutes=5)
QUIET_TICK = timedelta(hours=1)
HORIZON = timedelta(days=16)
RECONCILE_AT = timedelta(hours=3)  # the daily reconcile schedule (19:00 UTC) in market time
BILLING_AT = timedelta(hours=2, minutes=30)  # the daily billing schedule (18:30 UTC) in market time
# What the daily billing runs did, summed over their sellers (``billing_daily.DailyResult``), for the summary.
BILLING_COUNTS = ("recovered", "disagreements", "reminders", "held", "released", "expired", "purged")


@dataclass(frozen=True)
class Report:
    """The replay's summary text and whether every invariant held."""

    text: str
    ok: bool


class Replay:
    """Drives the world's events into the app over HTTP while the clock runs, then reports."""

    def __init__(
        self,
        stack: LocalStack,
        sellers: list[SellerSpec],
        trades: list[TradeSpec],
        events: list[WorldEvent],
        day,
        *,
        chaos: ChaosPlan | None = None,
        horizon: timedelta = HORIZON,
    ) -> None:
        self.stack = stack
        self.chaos = chaos  # faults to inject (``make run ARGS=--chaos``); the report then judges invariants
        self.horizon = horizon
        self._next_reconcile = day + RECONCILE_AT
        self.reconcile_stats = Counter()
        # Billing: the shops' purchases and refunds in time order, the daily billing pass, what it did.
        self._billing_events = sorted(
            [(day + p.at, "buy", spec.nick, p) for spec in sellers for p in purchases_of(spec) if p.at is not None]
            + [
                (day + p.refund_at, "refund", spec.nick, p)
                for spec in sellers
                for p in purchases_of(spec)
                if p.refund_at
            ],
            key=lambda event: event[0],
        )
        self._sold: dict[Purchase, dict] = {}
        self._next_billing = day - timedelta(days=1) + BILLING_AT
        self.billing_stats = Counter()
        self.held_at_renewal: dict[str, set[str]] = {}
        self.sellers = sellers
        self.trades = trades
        self.events = events
        self.day = day
        self.seller_ids: dict[str, str] = {}
        self.user_ids: dict[str, str] = {}
        self.sessions: dict[str, str] = {}  # each shop's seller session token, from the OAuth callback
        self.resumed: list[str] = []  # shops the simulated operator resumed after the write guard paused them
        self._operator_done = False
        self._done_actions: set[tuple[str, str]] = set()
        self.seller_actions = Counter()  # the shops' own pauses and resumes from the dashboard
        self._next_event = 0
        self._msg_id = 0
        self.push_stats = Counter()
        self.extortion_stats = Counter()  # what each one-click confirmation answered
        self.robot_tests: dict[tuple[str, str], str] = {}  # (shop, channel) → "<PUT status>/<test result>"
        self.start = stack.clock.now()
        self.horizon_seconds = (day + horizon - self.start).total_seconds()
        self._http = urllib3.PoolManager()

    # -- setup ------------------------------------------------------------------------------------------------
    def onboard(self) -> None:
        """Each shop authorizes the app through the marketplace's OAuth flow and saves its settings."""
        from chalicelib.domain.plans import features_for
        from chalicelib.domain.settings import validate_settings
        from chalicelib.services.rules import rules_in_force
        from chalicelib.store import seller_writes
        from chalicelib.store import sellers as seller_store

        now = self.stack.clock.now()
        self._write_rules_override(now)
        for spec in self.sellers:
            account = self.stack.marketplace.add_seller(spec.nick)
            seller_id, self.sessions[spec.nick] = self._authorize(spec.nick)
            self.seller_ids[spec.nick] = seller_id
            self.user_ids[spec.nick] = account.user_id
            for purchase in purchases_of(spec):
                if purchase.at is None:  # bought before the replay: the billing callback sets plan and paid_until
                    self._buy(spec.nick, purchase, now)
            seller = seller_store.get(seller_id)
            rules = rules_in_force()
            plan = seller.plan or spec.plan  # a shop that bought nothing still configures its intended plan
            settings = validate_settings(spec.settings, features=features_for(plan, rules), rules=rules)
            version = int(seller.settings_version or 0)
            seller_writes.set_settings(seller_id, settings.model_dump(mode="json"), expected_version=version, now=now)
            self._set_up_robots(spec)
        # What the authorizations queued (each shop's message permit, its backfill) runs before the first trade.
        self.stack.drain_install_jobs()

    def _set_up_robots(self, spec: SellerSpec) -> None:
        """The shop adds its group robots on the sandbox's DingTalk and WeCom through the API, and test-sends."""
        for channel in spec.robots:
            token = robot_token(spec.nick, channel)
            if channel == "dingtalk":
                self.stack.marketplace.robots.add_dingtalk(token, ROBOT_SECRET)
                body = {"channel": channel, "webhook": f"{DINGTALK_ROBOT_URL}?access_token={token}"}
                body["secret"] = ROBOT_SECRET
            else:
                self.stack.marketplace.robots.add_wecom(token)
                body = {"channel": channel, "webhook": f"{WECOM_ROBOT_URL}?key={token}"}
            kept = self._api(spec.nick, "PUT", "/api/robots", body)
            tested = self._api(spec.nick, "POST", "/api/robots/test", {"channel": channel})
            self.robot_tests[(spec.nick, channel)] = f"{kept.status}/{json.loads(tested.data).get('result')}"

    def _api(self, nick: str, method: str, path: str, body: dict):
        return self._http.request(
            method,
            self.stack.endpoints.app + path,
            body=json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.sessions[nick]}", "Content-Type": "application/json"},
        )

    def _authorize(self, nick: str) -> tuple[str, str]:
        """The shop's browser walks the OAuth flow over HTTP: the app's ``/oauth/start``, the marketplace's
        authorize page (the sandbox logs the seller in by ``nick``), the app's callback with the state cookie.
        Returns the seller id and the seller session token."""
        app = self.stack.endpoints.app
        start = self._http.request("GET", f"{app}/oauth/start", redirect=False)
        state_cookie = start.headers["Set-Cookie"].split(";", 1)[0]
        granted = self._http.request("GET", start.headers["Location"] + "&" + urlencode({"nick": nick}), redirect=False)
        answer = self._http.request(
            "GET",
            urljoin(app + "/", granted.headers["Location"]),
            redirect=False,
            headers={"Cookie": state_cookie, "Accept": "application/json"},
        )
        if answer.status != 200:
            raise RuntimeError(f"{nick} could not authorize the app: HTTP {answer.status} {answer.data[:300]!r}")
        body = json.loads(answer.data)
        return body["seller_id"], body["session_token"]

    def _write_rules_override(self, now: datetime) -> None:
        """The world's rules (the capped shops' plans) go in before anyone subscribes to them."""
        from chalicelib.store import control

        doc = rules_override(self.sellers)
        if doc:
            control.write_rules_override(doc, now=now)

    def _operator(self, now: datetime) -> None:
        """The operator's morning: read the overnight alerts and resume the shops the write guard paused."""
        from chalicelib.store import audit, control

        if self._operator_done or now < operator_resume_at(self.day):
            return
        self._operator_done = True
        paused = control.read_switches(fresh=True).kill_sellers
        for nick, seller_id in self.seller_ids.items():
            if seller_id in paused:
                control.set_kill_seller(seller_id, False, now=now)
                audit.append(
                    seller_id, actor="operator", action="seller.resume", target=None, result="ok", detail=None, now=now
                )
                self.resumed.append(nick)

    def _seller_actions(self, now: datetime) -> None:
        """What the shops do on the dashboard at their moments: pause and resume automatic reviews (over HTTP,
        with a seller session, as the page does)."""
        for spec in self.sellers:
            if spec.pause is None:
                continue
            for offset, action in zip(spec.pause, ("pause", "resume"), strict=True):
                key = (spec.nick, action)
                if key not in self._done_actions and now >= self.day + offset:
                    try:
                        self._seller_call(spec.nick, "POST", f"/api/auto-review/{action}", now)
                    except RuntimeError:
                        if self.chaos is None:
                            raise
                        continue  # an injected fault answered: the seller clicks again at the next tick
                    self._done_actions.add(key)
                    self.seller_actions[action] += 1

    def _seller_call(self, nick: str, method: str, path: str, now: datetime, body: dict | None = None) -> dict:
        from chalicelib.container import container
        from chalicelib.security.signed_tokens import issue

        token = issue(
            container().session_secret(),
            purpose="seller_session",
            subject=self.seller_ids[nick],
            now=now,
            ttl_seconds=600,
        )
        answer = self._http.request(
            method,
            f"{self.stack.endpoints.app}{path}",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            body=json.dumps(body or {}).encode(),
        )
        if answer.status != 200:
            raise RuntimeError(f"{nick}: {method} {path} answered HTTP {answer.status} {answer.data[:300]!r}")
        return json.loads(answer.data)

    # -- the clock loop ---------------------------------------------------------------------------------------
    def run(self, on_tick=None) -> None:
        """Advance the clock tick by tick: push due events, sweep, drain the queue into the worker."""
        clock = self.stack.clock
        end_trading = self.day + timedelta(days=1, hours=2)
        horizon = self.day + self.horizon
        while clock.now() < horizon:
            step = TRADING_TICK if clock.now() < end_trading else QUIET_TICK
            clock.advance(step.total_seconds())
            self._operator(clock.now())
            self._seller_actions(clock.now())
            if self.chaos is not None:
                self.chaos.on_tick(self, clock.now())
            self._bill_due(clock.now())
            self._push_due(clock.now())
            self._billing_daily(clock.now())
            self._reconcile_daily(clock.now())
            self.stack.pump(tolerate_failures=self.chaos is not None)
            if on_tick:
                local = clock.now().astimezone(self.day.tzinfo)
                on_tick((clock.now() - self.start).total_seconds(), f"market time {local:%m-%d %H:%M}")

    def _push_due(self, now: datetime) -> None:
        batch = []
        while self._next_event < len(self.events) and self.events[self._next_event].at <= now:
            event = self.events[self._next_event]
            self._next_event += 1
            if event.kind == "extortion_confirmed":  # the seller's click in the dashboard, not a message
                self._confirm_extortion(event.trade)
                continue
            self._apply_to_market(event)
            batch.append(self._message(event))
        if self.chaos is not None:  # through a channel that drops, duplicates, delays and reorders
            self.chaos.push(self, batch, now)
            return
        for i in range(0, len(batch), 50):
            status, body = self._push(batch[i : i + 50])
            self.push_stats[status] += 1
            for result in body.get("results", []):
                self.push_stats[result["status"]] += 1

    # -- billing ----------------------------------------------------------------------------------------------
    def _buy(self, nick: str, purchase: Purchase, now: datetime) -> None:
        """The shop buys on the service market; the market's OrderPaid callback follows unless it is lost."""
        start, end = self.day + purchase.start, self.day + purchase.end
        order = self.stack.marketplace.sell_subscription(
            nick, purchase.item_code, purchase.biz_type, start, end, purchase.fee, create=min(start, now)
        )
        self._sold[purchase] = order
        if purchase.delivered:
            self._push_billing(nick, topics.ORDER_PAID, order, now)

    def _bill_due(self, now: datetime) -> None:
        """Purchases and refunds whose time has come."""
        while self._billing_events and self._billing_events[0][0] <= now:
            _, kind, nick, purchase = self._billing_events.pop(0)
            if kind == "buy":
                self._buy(nick, purchase, now)
            else:
                order = self.stack.marketplace.refund_order(self._sold[purchase]["order_id"], purchase.fee)
                self._push_billing(nick, topics.ORDER_CLOSED, order, now)

    def _push_billing(self, nick: str, topic: str, order: dict, now: datetime) -> None:
        from chalicelib.store.models import Task

        # Which reviews a lapse held when the renewal arrives, to show in the summary what became of them.
        held = Task.query(self.seller_ids[nick], filter_condition=Task.reason == "plan_expired")
        self.held_at_renewal.setdefault(nick, set()).update(task.tid for task in held if task.state == "held")
        self._msg_id += 1
        msg = build_message(
            topic, order, msg_id=f"bill{self._msg_id}", pub_time=now, user_id=self.user_ids[nick], user_nick=nick
        )
        publisher = self.stack.marketplace.publisher(self.stack.endpoints.app, path="/webhooks/billing")
        status, body = publisher.push([msg])
        self.billing_stats[f"push {status}"] += 1
        for result in body.get("results", []):
            self.billing_stats[f"message {result['status']}"] += 1

    def _billing_daily(self, now: datetime) -> None:
        """The daily billing schedule; under chaos a run that failed is tried again at the next tick."""
        if now < self._next_billing:
            return
        try:
            result = self.stack.run_job("billing")
        except Exception:
            if self.chaos is None:
                raise
            self.billing_stats["daily failed"] += 1
            return
        self.billing_stats["daily runs"] += 1
        self.billing_stats.update({k: result.get(k, 0) for k in BILLING_COUNTS})
        while self._next_billing <= now:
            self._next_billing += timedelta(days=1)

    def _reconcile_daily(self, now: datetime) -> None:
        """The daily reconcile schedule; under chaos a run that failed is tried again at the next tick."""
        if now < self._next_reconcile:
            return
        try:
            self.stack.reconcile()
        except Exception:
            if self.chaos is None:
                raise
            self.reconcile_stats["failed"] += 1
            return
        self.reconcile_stats["runs"] += 1
        while self._next_reconcile <= now:
            self._next_reconcile += timedelta(days=1)

    def _apply_to_market(self, event: WorldEvent) -> None:
        """The marketplace changes first; its message follows (as the platform's push does)."""
        t = event.trade
        market = self.stack.marketplace
        if event.kind == "trade_success" and t.paid_at is not None:  # paid earlier: the trade exists, now finished
            market.set_trade_status(int(t.tid), "TRADE_FINISHED", end_time=t.ended_at)
        elif event.kind in ("trade_success", "buyer_paid"):
            market.add_trade(
                t.seller_nick,
                tid=int(t.tid),
                oid=int(t.oid),
                buyer_nick=t.buyer_nick,
                buyer_open_uid=t.buyer_open_uid,
                payment=t.payment,
                item_title=t.item_title,
                num_iid=ITEM_IDS[t.item_title],
                created=t.paid_at or t.ended_at - timedelta(days=4),
                end_time=None if event.kind == "buyer_paid" else t.ended_at,
                **({"status": "WAIT_SELLER_SEND_GOODS"} if event.kind == "buyer_paid" else {}),
            )
        elif event.kind == "buyer_rated":
            words = t.buyer_words or _buyer_words(t.tid, t.buyer_rating[1])
            market.add_buyer_rate(int(t.tid), t.buyer_rating[1], words)
        elif event.kind in REFUND_STATUS:
            market.refund(
                int(t.tid), REFUND_STATUS[event.kind], refund_id=refund_id_for(int(t.tid)), refund_fee=t.payment
            )

    def _confirm_extortion(self, t: TradeSpec) -> None:
        """The shop opens the app from 千牛 (a new session: the one from its authorization has ended) and clicks
        确认是以评价要挟 on the buyer's rating in its bad-review center."""
        from chalicelib.services.sessions import seller_sessions

        opened = seller_sessions.start(self.seller_ids[t.seller_nick], now=self.stack.clock.now())
        self.sessions[t.seller_nick] = opened.token
        answer = self._http.request(
            "POST",
            f"{self.stack.endpoints.app}/api/ratings/{t.tid}/extortion",
            headers={"Authorization": f"Bearer {self.sessions[t.seller_nick]}"},
        )
        result = json.loads(answer.data).get("result") if answer.status == 200 else f"HTTP {answer.status}"
        self.extortion_stats[result] += 1

    def _push(self, messages: list[dict]) -> tuple[int, dict]:
        # The marketplace's own publisher: it pushes only what the platform would (the sellers the app permitted).
        publisher = self.stack.marketplace.publisher(self.stack.endpoints.app)
        answer = publisher.push(messages)
        self.push_stats["withheld (not permitted)"] += publisher.withheld
        return answer

    def _message(self, event: WorldEvent) -> dict:
        t = event.trade
        content = {
            "tid": t.tid,
            "oid": t.oid,
            "seller_nick": t.seller_nick,
            "buyer_nick": t.buyer_nick,
            "buyer_open_uid": t.buyer_open_uid,
        }
        if event.kind == "trade_success":
            content.update(payment=t.payment, status="TRADE_FINISHED", item_title=t.item_title)
        elif event.kind == "buyer_rated":
            content.update(rater="buyer", result=t.buyer_rating[1])
        elif event.kind == "buyer_paid":
            content.update(payment=t.payment, status="TradeBuyerPay")
        else:
            content.update(refund_id=refund_id_for(int(t.tid)), refund_fee=t.payment, refund_phase="aftersale")
        self._msg_id += 1
        return build_message(
            TOPIC_OF[event.kind],
            content,
            msg_id=str(self._msg_id),
            pub_time=event.at,
            user_id=self.user_ids[t.seller_nick],
            user_nick=t.seller_nick,
        )

    # -- the verdict ------------------------------------------------------------------------------------------
    def report(self, *, wall_seconds: float) -> Report:
        """Tasks by state and reason per shop, marketplace calls, and the invariants."""
        from chalicelib.store.models import Task

        if self.chaos is not None:
            self.chaos.stop(self)  # the report reads the store: no more injected faults
        states: Counter = Counter()
        per_shop: dict[str, Counter] = {}
        by_tid: dict[str, Task] = {}
        for spec in self.sellers:
            shop = per_shop.setdefault(spec.nick, Counter())
            for task in Task.query(self.seller_ids[spec.nick]):
                key = task.state + (f":{task.reason}" if task.reason and task.state != "posted" else "")
                states[key] += 1
                shop[key] += 1
                by_tid[task.tid] = task
        market = self.stack.marketplace
        double_posts = sum(1 for t in self.trades if market.post_counts(int(t.tid)) > 1)
        mismatches = []
        for t in self.trades:
            task = by_tid.get(t.tid)
            got = (
                "missing" if task is None else (task.state if task.state == "posted" else f"{task.state}:{task.reason}")
            )
            if got != t.expect:
                mismatches.append((t, got))
        open_tasks = sum(n for k, n in states.items() if k.split(":")[0] in ("scheduled", "claimed", "held"))
        lines = ["", "Summary", "=======", f"{'shop':<20} {'trades':>6}  outcomes"]
        for spec in self.sellers:
            shop = per_shop[spec.nick]
            outcomes = ", ".join(f"{k} {n}" for k, n in sorted(shop.items()))
            lines.append(f"{_pad(spec.nick, 20)} {sum(shop.values()):>6}  {outcomes}")
        lines.append("")
        lines.append("tasks by state: " + ", ".join(f"{k} {n}" for k, n in sorted(states.items())))
        calls = dict(market.calls)
        lines.append("marketplace calls: " + ", ".join(f"{k} {n}" for k, n in sorted(calls.items())))
        lines.append("pushes: " + ", ".join(f"{k} {n}" for k, n in sorted(self.push_stats.items(), key=str)))
        if self.seller_actions:
            lines.append(
                "shops on the dashboard: " + ", ".join(f"{k} {n}" for k, n in sorted(self.seller_actions.items()))
            )
        lines += self._what_if_lines()
        lines += self._item_id_lines(by_tid, calls.get("taobao.trade.fullinfo.get", 0))
        pause_lines, pause_ok = self._pause_report(by_tid)
        lines += pause_lines
        guard_lines, guard_ok = self._guard_report()
        lines += guard_lines
        lines.append(f"trades {len(self.trades)} · double posts {double_posts} · open tasks {open_tasks}")
        lines.append(f"expected outcomes met: {len(self.trades) - len(mismatches)}/{len(self.trades)}")
        for t, got in mismatches[:10]:
            lines.append(f"  mismatch tid {t.tid} ({t.seller_nick}): expected {t.expect}, got {got}")
        lines.append("reconcile runs: " + ", ".join(f"{k} {n}" for k, n in sorted(self.reconcile_stats.items())))
        billing_lines, billing_ok = self._billing_report(by_tid)
        lines += billing_lines
        extortion_lines, extortion_ok = self._extortion_report()
        lines += extortion_lines
        robot_lines, robots_ok = self._robots_report()
        lines += robot_lines
        # Under chaos the robots are reported, not judged: injected store faults may leave an alert between attempts.
        billing_ok = billing_ok and (robots_ok or self.chaos is not None)
        if self.chaos is not None:
            outcomes = {t.tid: _outcome_of(by_tid.get(t.tid)) for t in self.trades}
            posts = {t.tid: market.post_counts(int(t.tid)) for t in self.trades}
            chaos_lines, ok = self.chaos.report(self.trades, outcomes, posts)
            lines += chaos_lines
            ok = ok and guard_ok and billing_ok and pause_ok
        else:
            ok = double_posts == 0 and open_tasks == 0 and not mismatches and guard_ok and billing_ok
            ok = ok and extortion_ok and pause_ok
        lines.append(f"wall time {wall_seconds:.1f}s")
        verdict = "the invariants held under chaos" if self.chaos else "every trade reached its expected outcome"
        lines.append("RESULT: " + (f"OK — {verdict}, none posted twice" if ok else "FAILED"))
        return Report("\n".join(lines), ok)

    def _item_id_lines(self, by_tid: dict, reads: int) -> list[str]:
        """The shops whose filters skip an item by its id: the pushed messages carry none, so the app reads the
        trade's items (``taobao.trade.fullinfo.get``) before posting."""
        lines = []
        for spec in self.sellers:
            ids = [r for r in (spec.settings.get("filters") or {}).get("skip_items") or [] if r.isdigit()]
            if not ids:
                continue
            skipped = sum(
                1
                for t in self.trades
                if t.seller_nick == spec.nick
                and str(ITEM_IDS[t.item_title]) in ids
                and t.tid in by_tid
                and (by_tid[t.tid].state, by_tid[t.tid].reason) == ("skipped", "filter_item_skipped")
            )
            lines.append(f"  {spec.nick}: skipped {skipped} by item id {', '.join(ids)}")
        return [f"item filters by id ({reads} trades' items read before posting):", *lines] if lines else []

    def _pause_report(self, by_tid: dict) -> tuple[list[str], bool]:
        """The shops that paused automatic reviews: nothing may be posted while paused; what waited went out later."""
        lines, ok = [], True
        for spec in self.sellers:
            if spec.pause is None:
                continue
            paused, resumed = (int((self.day + offset).timestamp()) for offset in spec.pause)
            posted_at = [
                (by_tid[t.tid].trade_end, (by_tid[t.tid].response or {}).get("posted_at"))
                for t in self.trades
                if t.seller_nick == spec.nick and t.tid in by_tid and by_tid[t.tid].state == "posted"
            ]
            during = sum(1 for _, at in posted_at if at is not None and paused <= at < resumed)
            # Trades pushed while paused: those that ended from one tick before the pause until the resume.
            tick = int(TRADING_TICK.total_seconds())
            waited = sum(1 for end, at in posted_at if paused - tick < end < resumed and (at or 0) >= resumed)
            start, end = (f"{(self.day + offset):%H:%M}" for offset in spec.pause)
            lines.append(
                f"  {spec.nick}: paused {start}-{end}, {during} posted while paused, {waited} went out on resume"
            )
            ok = ok and during == 0
        return (["auto-review paused from the page:", *lines] if lines else []), ok

    def _what_if_lines(self) -> list[str]:
        """For each shop with order filters, the dashboard's what-if of the same 30 days without them."""
        lines = []
        now = self.stack.clock.now()
        unfiltered = {"filters": {"min_amount": None, "max_amount": None, "include_items": [], "skip_items": []}}
        unfiltered["filters"] |= {"skip_refund_buyers": False, "skip_dispute_buyers": False}
        for spec in self.sellers:
            if not spec.settings.get("filters"):
                continue
            report = self._seller_call(spec.nick, "POST", "/api/settings/what-if", now, unfiltered)
            sim = report["simulated"]
            lines.append(
                f"what-if ({spec.nick} without its filters, {report['trades']} trades): posted {sim['posted']}"
                f" (actually {report['actual'].get('posted', 0)}), skipped {sum(sim['skipped'].values())}"
            )
        return lines

    def _billing_report(self, by_tid: dict) -> tuple[list[str], bool]:
        """Orders the app holds against what the market sold, sellers entitled now, reminders, and posts made
        outside the paid periods (there must be none); then what became of the reviews a lapse held."""
        from chalicelib.store.models import Order, Outbox, Seller

        market = self.stack.marketplace
        now = self.stack.clock.now()
        received = sold = entitled = reminders = outside = 0
        for spec in self.sellers:
            seller_id = self.seller_ids[spec.nick]
            held = {order.order_id for order in Order.query(seller_id)}
            sold_ids = {
                str(o["order_id"]) for o in market.state.orders_created(market.article_code, None, None, spec.nick)
            }
            received += len(sold_ids & held)
            sold += len(sold_ids)
            seller = Seller.get(seller_id)
            entitled += bool(seller.paid_until and seller.paid_until > now.timestamp())
            reminders += sum(1 for n in Outbox.query(seller_id) if n.kind == "plan_expiring")
            periods = _market_paid_periods(market, spec.nick, now)
            outside += sum(
                1
                for rate in market.rates_given(spec.nick)
                if not any(p.start <= _market_time(rate["created"]) < p.end for p in periods)
            )
        stats = self.billing_stats
        lines = [
            f"billing: orders received {received} (market sold {sold}) · sellers entitled {entitled}/"
            f"{len(self.sellers)} · reminders sent {reminders} · posts outside paid periods {outside}",
            f"  daily billing passes {stats['daily runs']}: orders recovered by reconciliation {stats['recovered']}, "
            f"tasks held {stats['held']}, expired while lapsed {stats['expired']}, "
            f"disagreements {stats['disagreements']}",
        ]
        for nick, tids in self.held_at_renewal.items():
            if tids:
                became = Counter(_outcome_of(by_tid.get(tid)) for tid in tids)
                outcome = ", ".join(f"{k} {n}" for k, n in sorted(became.items()))
                lines.append(f"  {nick}: {len(tids)} reviews held:plan_expired until the renewal → {outcome}")
        return lines, received == sold and outside == 0

    def _extortion_report(self) -> tuple[list[str], bool]:
        """差评师预警: the confirmations' answers, which shops were warned (only the shop the buyer paid, once),
        and the memo flag on its order (written through the write guard, or recorded as a dry run)."""
        from chalicelib.store.models import Audit, Outbox

        paid = [t for t in self.trades if t.paid_at is not None]
        if not paid and not self.extortion_stats:
            return [], True
        market = self.stack.marketplace
        warned = {
            spec.nick: [n.message for n in Outbox.query(self.seller_ids[spec.nick]) if n.kind == "extortion_warning"]
            for spec in self.sellers
        }
        expected = {t.seller_nick: 1 for t in paid}
        got = {nick: len(messages) for nick, messages in warned.items() if messages}
        memos, memo_ok = [], True
        for t in paid:
            memo = market.memo_of(int(t.tid))
            audits = Audit.query(self.seller_ids[t.seller_nick])
            records = Counter(a.result for a in audits if a.target == f"{t.tid}#memo")
            memos.append(f"order {t.tid} memo {'flag ' + str(memo[1]) if memo else 'none'} ({dict(records)})")
            memo_ok = memo_ok and (memo is not None or records["dry_run"] > 0)
        answers = ", ".join(f"{k} {n}" for k, n in sorted(self.extortion_stats.items()))
        lines = [
            f"extortion warning: confirmations {answers or 'none'} · warned shops "
            + (", ".join(f"{nick} {n}" for nick, n in got.items()) or "none"),
            *(f"  {_pad(nick, 18)} {messages[0]}" for nick, messages in warned.items() if messages),
            *(f"  {line}" for line in memos),
        ]
        ok = got == expected and set(self.extortion_stats) <= {"shared"} and memo_ok
        return lines, ok

    def _robots_report(self) -> tuple[list[str], bool]:
        """What reached the shops' group robots, read back from the sandbox robots and the inbox: every alert the
        shop chose for its robots reached each of them (alone or in a digest) unless still in its quiet hours, no
        robot refused or throttled a message, and the test message went out when the robot was set up."""
        from chalicelib.domain.alert_policy import event_of
        from chalicelib.store.models import Outbox

        robots = self.stack.marketplace.robots
        lines, ok = ["group robots:"], True
        now = int(self.stack.clock.now().timestamp())
        for spec in self.sellers:
            if not spec.robots:
                continue
            items = [i for i in Outbox.query(self.seller_ids[spec.nick]) if event_of(i.kind)]
            late = [i for i in items if i.robots_pending and (i.robot_due_at or 0) < now - 120]
            waiting = sum(1 for i in items if i.robots_pending) - len(late)
            for channel in spec.robots:
                robot = robots.robot(channel, robot_token(spec.nick, channel))
                reached = sum(1 for i in items if channel in (i.robots_sent or ()))
                pending = sum(1 for i in items if channel in (i.robots_pending or ()))
                digests = sum(1 for text in robot.received if "条新提醒" in text)
                tested = self.robot_tests.get((spec.nick, channel), "")
                lines.append(
                    f"  {_pad(spec.nick, 18)} {channel}: {reached}/{len(items)} alerts in {len(robot.received)} "
                    f"messages ({digests} digests), set up {tested}, refused {len(robot.refused)}"
                )
                ok = ok and tested == "200/sent" and not robot.refused and reached + pending == len(items)
            if waiting or late:
                lines.append(f"  {_pad(spec.nick, 18)} waiting for quiet hours to end {waiting}, late {len(late)}")
            ok = ok and not late
        return (lines if len(lines) > 1 else []), ok

    def _guard_report(self) -> tuple[list[str], bool]:
        """What the write guard did per shop (read back from the audit trail and the marketplace), and whether
        it held: dry-run shops posted nothing, capped shops never exceeded their cap and were not paused for it."""
        from chalicelib.store.models import Audit

        market = self.stack.marketplace
        lines, ok = ["write guard:"], True
        for spec in self.sellers:
            results = Counter(f"{a.action}:{a.result}" for a in Audit.query(self.seller_ids[spec.nick]))
            posted = market.rates_given(spec.nick)
            notes = []
            if results["taobao.traderate.add:dry_run"]:
                dry = results["taobao.traderate.add:dry_run"]
                notes.append(f"{dry} dry-run records with the exact text, {len(posted)} posted")
            pauses = Counter({k.split(":", 1)[1]: n for k, n in results.items() if k.startswith("seller.pause:")})
            if pauses:
                why = ", ".join(f"{n}× {verdict}" for verdict, n in sorted(pauses.items()))
                notes.append(f"paused ({why}), resumed {results['seller.resume:ok']}× by the operator")
            if spec.hourly_cap is not None:
                busiest = max(Counter(r["created"][:13] for r in posted).values(), default=0)
                notes.append(f"busiest hour {busiest} posts (cap {spec.hourly_cap})")
                deferred = sum(1 for t in self.trades if t.seller_nick == spec.nick and t.post_at is not None)
                notes.append(f"{deferred} waited for a later hour")
                # Reaching the cap defers work; it never pauses the shop (only the circuit breaker does).
                ok = ok and busiest <= spec.hourly_cap and not pauses
            if spec.dry_run:
                ok = ok and not posted
            if notes:
                lines.append(f"  {_pad(spec.nick, 18)} " + "; ".join(notes))
        return (lines if len(lines) > 1 else []), ok


# What the replayed buyers write with a rating: the bad-review center triages the neutral and bad ones.
_COMPLAINTS = (
    "物流太慢了，等了一个星期才到",
    "衣服洗了一次就掉色，质量一般",
    "和图片颜色差太多，与描述不符",
    "尺码偏小，按平时的码买的穿不上",
    "客服态度很差，问什么都不回",
    "包装太简陋，盒子都压扁了",
    "不给我返现二十块就给差评",
    "太贵了，不值这个价",
)


def _buyer_words(tid: str, result: str) -> str:
    if result == "good":
        return "东西不错，物流也快，好评"
    return _COMPLAINTS[int(tid) % len(_COMPLAINTS)]


def _market_time(text: str) -> datetime:
    from chalicelib.domain.market_time import parse_market_time

    return parse_market_time(text)


def _market_paid_periods(market, nick: str, now: datetime):
    """The seller's paid periods as the market sold them (refunds deducted), by the app's entitlement rules."""
    from chalicelib.domain.entitlement import BillingOrder, entitlement

    orders = [
        BillingOrder(
            order_id=str(o["order_id"]),
            nick=nick,
            article_code=o["article_code"],
            item_code=o["item_code"],
            biz_type=int(o["biz_type"]),
            cycle_start=_market_time(o["order_cycle_start"]),
            cycle_end=_market_time(o["order_cycle_end"]),
            total_pay_fee=int(o["total_pay_fee"]),
            refund_fee=int(o["refund_fee"]),
            created=_market_time(o["create"]),
        )
        for o in market.state.orders_created(market.article_code, None, None, nick)
    ]
    return entitlement(orders, now).periods


def _outcome_of(task) -> str:
    """A task's outcome as the world states expectations: ``posted``, ``state:reason`` or ``missing``."""
    if task is None:
        return "missing"
    return task.state if task.state == "posted" else f"{task.state}:{task.reason}"


def _pad(text: str, width: int) -> str:
    """Left-align for a terminal, where CJK characters take two columns."""
    columns = sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)
    return text + " " * max(0, width - columns)
