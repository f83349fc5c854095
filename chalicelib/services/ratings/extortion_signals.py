"""Use cases of 差评师预警: shops share that a buyer used a rating to demand something, and a shop is warned when a
buyer confirmed by enough other paying shops pays for an order.

A shop contributes only when it opted in (``extortion_contribute``), pays (no trial, not lapsed) and is inside its
daily confirmation quota; a shop is warned only when it opted in (``extortion_receive``) and is entitled. What is
shared is the buyer's keyed hashes, an opaque shop key (only to count distinct shops), the kind and the time
(``store.signals``). Nothing here returns, logs or alerts a count of shops, a contributing shop, or a buyer's
identity: a seller learns only "this buyer is flagged" at payment time, or nothing. The app never closes, refuses
or delays an order: it alerts, and, as the seller chose, blacklists the buyer (no automatic review) or queues a
memo flag on the order, written by the worker through the one write guard.
"""

from __future__ import annotations

from datetime import datetime

from chalicelib import i18n
from chalicelib.container import container
from chalicelib.domain import extortion
from chalicelib.domain.market_time import market_date
from chalicelib.marketplace.topics import TradeBuyerPay
from chalicelib.security.buyer_id import BuyerIdKind, buyer_hash, buyer_keys, mask_nick, shop_key
from chalicelib.services.alerts.alerts import alert
from chalicelib.services.operations.operator_actions import GLOBAL
from chalicelib.services.ratings.rating_center import RatingNotFound
from chalicelib.services.reviews import review_queue
from chalicelib.services.rules import rules_in_force
from chalicelib.services.sellers.seller_state import view_of
from chalicelib.store import audit, blacklist, orders, ratings, sellers, signals, tasks
from chalicelib.telemetry import count, logger

# What a contribution came to (the seller's own state; never anything about other shops).
SHARED = "shared"
SHARING_OFF = "sharing_off"
NOT_PAYING = "not_paying"
DAILY_LIMIT = "daily_limit"
NO_BUYER = "no_buyer"
ALREADY_CONFIRMED = "already_confirmed"

# The blacklist reasons: a seller's own extortion report contributes; a warning's blacklisting never does (a
# flag must not feed itself).
BLACKLIST_EXTORTION = "extortion"
BLACKLIST_WARNED = "extortion_warning"


class NotSuspected(ValueError):
    """The rating was not flagged as suspected extortion, so it cannot be confirmed as such."""


def _policy() -> extortion.ExtortionPolicy:
    return rules_in_force().extortion


def contribute(seller_id: str, keys: tuple[str, ...], *, kind: extortion.SignalKind, now: datetime) -> str:
    """Share that the seller confirmed extortion by the buyer of ``keys`` (its keyed hashes); what came of it."""
    seller = sellers.cached(seller_id)
    if seller is None or not view_of(seller).settings.extortion_contribute:
        return SHARING_OFF
    if not keys:
        return NO_BUYER
    if not extortion.paying(orders.of_seller(seller_id), now):
        count("ExtortionSignalNotPaying")
        return NOT_PAYING
    policy = _policy()
    shop = shop_key(container().buyer_hash_secret(), seller_id)
    if not signals.take_quota(shop, market_date(now).isoformat(), limit=policy.confirmations_per_shop_per_day, now=now):
        count("ExtortionSignalLimited")
        return DAILY_LIMIT
    for key in keys:
        signals.record(key, shop, kind=kind, at=now, expire_at=now + policy.window)
        until = extortion.flagged_until(signals.signals_of(key), now, policy)
        if until is not None:
            signals.raise_flag(key, until)
    count("ExtortionSignal")
    return SHARED


def confirm_rating(seller_id: str, tid: str, *, now: datetime) -> str:
    """The seller confirms (one click) that a rating flagged as suspected extortion is one; ``RatingNotFound``
    for a trade without a neutral/bad rating of the seller's, ``NotSuspected`` when the triage did not flag it.
    A second confirmation changes nothing (``already_confirmed``)."""
    task = tasks.get(seller_id, tid)
    if task is None or task.buyer_rating not in ("neutral", "bad"):
        raise RatingNotFound(tid)
    if not extortion.suspected(task.triage, _policy()):
        raise NotSuspected("this rating was not flagged as suspected extortion")
    if not ratings.record_extortion_confirmed(seller_id, tid, now=now):
        return ALREADY_CONFIRMED
    keys = tuple(key for key in (task.buyer_hash, task.buyer_uid_hash) if key)
    result = contribute(seller_id, keys, kind="rating_confirmed", now=now)
    audit.append(seller_id, actor="seller", action="extortion.confirm", target=tid, result=result, detail=None, now=now)
    return result


def on_blacklisted(seller_id: str, keys: tuple[str, ...], *, now: datetime) -> str:
    """The seller blacklisted a buyer giving extortion as the reason: a signal, as a confirmed rating is."""
    return contribute(seller_id, keys, kind="blacklisted", now=now)


def on_buyer_paid(seller_id: str, trade: TradeBuyerPay, *, now: datetime) -> str:
    """A buyer paid one of the seller's orders: warn the seller if the buyer is flagged and the seller asked to be
    warned, then do what the seller chose. Costs at most one read (of the flags, cached) for a warned seller and
    none for the others. Returns ``warned``, ``clear``, or why nothing was looked up."""
    seller = sellers.cached(seller_id)
    view = view_of(seller) if seller is not None else None
    if view is None or not view.settings.extortion_receive:
        return "receive_off"
    if not view.entitled(now):
        return "not_entitled"
    keys = buyer_keys(container().buyer_hash_secret(), trade.buyer_nick, trade.buyer_open_uid)
    if not keys:
        return "no_buyer"
    flags = signals.flags_until(keys)
    if not any(extortion.is_flagged(until, now) for until in flags.values()):
        return "clear"
    policy = _policy()
    values = {"tid": trade.tid, "days": policy.window_days, "shops": policy.min_shops}
    alert(
        seller_id,
        "extortion_warning",
        f"trade {trade.tid}: buyer confirmed by at least {policy.min_shops} shops in {policy.window_days} days",
        now=now,
        detail=values,
        once_key=f"extortion:{seller_id}:{trade.tid}",
    )
    action = view.settings.extortion_on_paid
    if action == "blacklist":
        masked = mask_nick(trade.buyer_nick or trade.buyer_open_uid or "")
        for key in keys:
            blacklist.add(seller_id, key, masked=masked, reason=BLACKLIST_WARNED, now=now)
    elif action == "memo":
        _queue_memo(seller_id, trade.tid, i18n.text("memo.extortion_warning", **values), now=now)
    count("ExtortionWarning")
    logger.info("extortion warning", extra={"seller_id": seller_id, "tid": trade.tid, "action": action})
    return "warned"


def _queue_memo(seller_id: str, tid: str, text: str, *, now: datetime) -> None:
    """Queue the order's memo flag; the worker writes it through the write guard (never inside this request)."""
    limit = rules_in_force().memo_max_bytes
    memo = text.encode("utf-8")[:limit].decode("utf-8", "ignore")
    if tasks.create_memo(seller_id, tid, content=memo, now=now, shards=container().settings.due_shards):
        review_queue.queue_when_due(seller_id, tasks.memo_tid(tid), now, now=now)
        count("MemoQueued")


def clear_flag(identifier: str, *, kind: BuyerIdKind, actor: str, now: datetime) -> bool:
    """An upheld appeal: remove the buyer's flag and every signal about it, audited. The buyer is named by nick or
    open uid (hashed here, never stored or logged); True when something was stored about the buyer."""
    key = buyer_hash(container().buyer_hash_secret(), identifier, kind=kind)
    removed = signals.clear(key) > 0
    audit.append(
        GLOBAL,
        actor=actor,
        action="extortion.clear",
        target=key,
        result="cleared" if removed else "nothing_stored",
        detail=None,
        now=now,
    )
    return removed
