"""Use case: a finished trade becomes one review task, scheduled by the seller's timing policy."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from chalicelib.container import container
from chalicelib.domain import order_filters, phrases, templates, timing
from chalicelib.domain import refunds as refund_rules
from chalicelib.domain.lint import lint
from chalicelib.domain.market_time import format_market_time, market_date, parse_market_time
from chalicelib.domain.settings import SellerSettings, effective_mode
from chalicelib.domain.task_state import State
from chalicelib.marketplace.messages import MalformedMessage
from chalicelib.marketplace.topics import TradeSuccess
from chalicelib.security.buyer_id import buyer_hash, buyer_keys, mask_nick
from chalicelib.services.alerts.alerts import alert
from chalicelib.services.reviews import review_queue
from chalicelib.services.reviews.auto_review import PAUSED, is_paused
from chalicelib.services.reviews.review_rng import rng
from chalicelib.services.reviews.trade_filters import amount_fen, filter_reason
from chalicelib.services.rules import rules_in_force
from chalicelib.services.sellers.seller_state import SellerView, view_of
from chalicelib.store import audit, blacklist, buyer_history, phrase_data, sellers, stats, tasks
from chalicelib.telemetry import count, logger

# Clocks differ a little; a trade end further ahead than this is no real trade's.
FUTURE_SKEW = timedelta(days=1)
# The worker's wording for a lint failure (``lint: <guard reason>``), so both paths read alike.
IDENTITY_LINT_REASON = "lint: content failed lint: buyer_identity"
REVIEW_ACTION = "taobao.traderate.add"


class UnknownSeller(LookupError):
    """The message names a seller who never authorized the app."""


@dataclass(frozen=True)
class Scheduled:
    """What became of the trade: the task's state, or ``duplicate`` when it already existed."""

    outcome: str
    state: State | None = None
    reason: str | None = None


def _rotation(tid: str) -> int:
    # Rotation follows the trade ids instead of a per-seller counter, which would cost a write per trade.
    return int(tid) if tid.isdigit() else zlib.crc32(tid.encode())


def _initial_state(view: SellerView, trade_end: datetime, now: datetime, hashes: tuple[str, ...]):
    rules = rules_in_force()
    if timing.is_window_closed(now, trade_end, rules):
        return State.EXPIRED, "window_closed", frozenset()
    if view.seller.status == "purged":
        return State.SKIPPED, "disabled", frozenset()
    if any(h in blacklist.hashes(view.seller.seller_id, kept=bool(view.seller.has_blacklist)) for h in hashes):
        return State.SKIPPED, "blacklisted", frozenset()
    holds = set()
    if not view.entitled(now):
        holds.add("plan_expired")
    if view.seller.status == "reauth":
        holds.add("reauth")
    if is_paused(view.seller):
        holds.add(PAUSED)
    if holds:
        return State.HELD, sorted(holds)[0], frozenset(holds)
    return State.SCHEDULED, None, frozenset()


def review_texts(settings: SellerSettings) -> tuple[str, ...]:
    """The texts a review may get: the seller's own lines, then the built-in phrases of the types they picked."""
    return phrases.review_pool(settings.templates, settings.phrase_types, phrase_data.library())


def render_content(
    settings: SellerSettings, *, tid: str, variables: dict[str, str], avoid: str | None = None
) -> tuple[int, str]:
    """Choose the text for this trade (not ``avoid``, the key of the buyer's last one) and render it; the choice
    is stored with the task."""
    pool = review_texts(settings)
    index = phrases.choose_text(pool, settings.template_strategy, tid, _rotation(tid), avoid=avoid)
    return index, templates.render(pool[index], variables)


def schedule_trade(seller_id: str, trade: TradeSuccess, *, pub_time: datetime, now: datetime) -> Scheduled:
    """Create the trade's review task once (a duplicate message finds it and changes nothing)."""
    seller = sellers.cached(seller_id)
    if seller is None:
        raise UnknownSeller(seller_id)
    view = view_of(seller)
    settings = view.settings
    rules = rules_in_force()
    trade_end = parse_market_time(trade.end_time) if trade.end_time else pub_time
    if trade_end > now + FUTURE_SKEW:
        # A trade cannot end after the message about it; such a task would wait for years in the table.
        raise MalformedMessage("end_time: the trade ends in the future")
    hashes = buyer_keys(container().buyer_hash_secret(), trade.buyer_nick, trade.buyer_open_uid)
    masked = mask_nick(trade.buyer_nick) if trade.buyer_nick else None
    several = len(review_texts(settings)) > 1
    last = buyer_history.last_text(seller_id, hashes) if several and hashes else None
    index, content = render_content(
        settings,
        tid=trade.tid,
        variables=templates.variables_for(
            buyer_masked=masked or "", item_title=trade.item_title or "", shop_name=seller.nick, trade_end=trade_end
        ),
        avoid=last,
    )
    state, reason, holds = _initial_state(view, trade_end, now, hashes)
    payment = amount_fen(trade.payment)
    if state in (State.SCHEDULED, State.HELD):
        facts = order_filters.TradeFacts(
            amount_fen=payment, item_ids=order_filters.item_ids_of(trade.num_iid), item_title=trade.item_title
        )
        skipped_by = filter_reason(seller_id, settings, facts, hashes)
        if skipped_by:
            state, reason, holds = State.SKIPPED, skipped_by, frozenset()
    if state in (State.SCHEDULED, State.HELD) and _names_buyer(content, trade, rules):
        # Only here is the raw nick known: a text naming the buyer fails now and is never stored or posted.
        state, reason, holds, content = State.FAILED, IDENTITY_LINT_REASON, frozenset(), None
    item_title = None if _names_buyer(trade.item_title or "", trade, rules) else trade.item_title
    secret = container().buyer_hash_secret()
    nick_hash = buyer_hash(secret, trade.buyer_nick, kind="nick") if (trade.buyer_nick or "").strip() else None
    uid_hash = (
        buyer_hash(secret, trade.buyer_open_uid, kind="open_uid") if (trade.buyer_open_uid or "").strip() else None
    )
    new = tasks.NewTask(
        seller_id=seller_id,
        tid=trade.tid,
        oid=trade.oid,
        trade_end=trade_end,
        due_at=timing.initial_due_at(
            effective_mode(settings, view.features()), trade_end, settings, rules, spread=rng().random()
        ),
        state=state,
        reason=reason,
        holds=holds,
        content=content,
        template_index=index,
        item_title=item_title,
        buyer_hash=nick_hash,
        buyer_uid_hash=uid_hash,
        buyer_masked=masked,
        payment=payment,
        item_id=trade.num_iid,
        # A review held while the seller pauses is looked at again when its window closes, and expires then.
        wake_at=timing.window_closes_at(trade_end, rules) if state is State.HELD and PAUSED in holds else None,
    )
    # A review queued at once reaches the worker by its job; it joins the due index only where that can fail.
    queued_at_once = state is State.SCHEDULED and review_queue.at_once(new.due_at, now=now)
    created = tasks.create(new, now=now, shards=container().settings.due_shards, in_due_index=not queued_at_once)
    if not created:
        return _fill_placeholder(new, view, now)
    if several and content and state in (State.SCHEDULED, State.HELD):
        buyer_history.remember_text(seller_id, hashes, phrases.text_key(review_texts(settings)[index]), now=now)
    count("TaskScheduled" if state is State.SCHEDULED else f"Task{state.value.capitalize()}")
    if state is State.SCHEDULED:
        review_queue.queue_when_due(seller_id, trade.tid, new.due_at, now=now, in_due_index=not queued_at_once)
    if state in (State.SKIPPED, State.EXPIRED, State.FAILED):
        day = market_date(now).isoformat()
        stats.bump(seller_id, stats.day_bucket(day), {stats.counter_name(state.value, reason): 1}, now=now)
    if state is State.SKIPPED:
        # Skipped before it was ever due (blacklisted buyer, reviews off): the seller's log says so and why.
        detail = {"reason": reason}
        audit.append(
            seller_id,
            actor="scheduler",
            action=REVIEW_ACTION,
            target=trade.tid,
            result="skipped",
            detail=detail,
            now=now,
        )
    if state is State.FAILED:
        _content_rejected(seller_id, trade.tid, now)
    # A line per trade at INFO was about a third of a push's own work per message (beside its PutItem) and 10M
    # lines a day at the design point; the task item and the Task* metrics say the same. Marketplace writes stay
    # at INFO.
    logger.debug(
        "task created",
        extra={
            "seller_id": seller_id,
            "tid": trade.tid,
            "state": state.value,
            "trade_end": format_market_time(trade_end),
        },
    )
    return Scheduled("created", state, reason)


def _names_buyer(content: str, trade: TradeSuccess, rules) -> bool:
    identifiers = [ident for ident in (trade.buyer_nick, trade.buyer_open_uid) if ident]
    return any(p.code == "buyer_identity" for p in lint(content, rules, buyer_identifiers=identifiers))


def _content_rejected(seller_id: str, tid: str, now: datetime) -> None:
    reason = IDENTITY_LINT_REASON.removeprefix("lint: ")
    alert(seller_id, "content_rejected", reason, now=now, once_key=f"lint:{tid}")
    audit.append(
        seller_id,
        actor="scheduler",
        action="taobao.traderate.add",
        target=tid,
        result="lint_failed",
        detail={"reason": reason},
        now=now,
    )


def _fill_placeholder(new: tasks.NewTask, view: SellerView, now: datetime) -> Scheduled:
    """The task exists: a duplicate message, or a placeholder left by a refund that arrived first."""
    existing = tasks.get(new.seller_id, new.tid)
    if existing is None or not existing.stub:
        count("TradeDuplicate")
        if existing is not None and existing.state == State.SCHEDULED.value and existing.due_shard is None:
            # Its job may never have gone out (the push before died after the write): a second job is harmless.
            due_at = datetime.fromtimestamp(existing.due_at, UTC)
            review_queue.queue_when_due(new.seller_id, new.tid, due_at, now=now, in_due_index=False)
        return Scheduled("duplicate")
    effect = refund_rules.effect(existing.refunds or {})
    if effect == "succeeded":
        new = replace(new, state=State.SKIPPED, reason="refunded", holds=frozenset())
    elif effect == "open" and new.state in (State.SCHEDULED, State.HELD):
        holds = frozenset({*new.holds, "refund"})
        new = replace(new, state=State.HELD, reason=sorted(holds)[0], holds=holds)
    if not tasks.fill_stub(new, rev=existing.rev, now=now, shards=container().settings.due_shards):
        raise RuntimeError(f"placeholder of {new.tid} changed meanwhile; retry")
    count("TradeAfterRefund")
    if new.state is State.SCHEDULED:
        review_queue.queue_when_due(new.seller_id, new.tid, new.due_at, now=now)
    return Scheduled("created", new.state, new.reason)
