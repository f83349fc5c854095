"""Use cases: a seller's own DingTalk / WeCom group robots — set them up, test them, and deliver alerts to them.

Alerts land in the inbox (``store.outbox``) marked with the robots they must still reach; the minute sweep sends
them (``deliver_due``): one message when one alert waits for a robot, one digest when several do, never more than
the robot's per-minute budget, never in the seller's quiet hours, and never again once a robot took it (a claim on
the items, and a once-key on the send). A robot that says "too fast" is left alone for ten minutes; one that
refuses the credential is marked so the page asks the seller to fix it, and its alerts stay in the inbox.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from chalicelib import i18n
from chalicelib.container import container
from chalicelib.domain import alert_policy as policy
from chalicelib.marketplace.robots import (
    Credential,
    RobotClient,
    RobotRefused,
    RobotThrottled,
    RobotUnavailable,
    parse_credential,
)

# CredentialInvalid is what the API answers as a field error for a robot address that cannot be used.
from chalicelib.marketplace.robots import CredentialInvalid as CredentialInvalid
from chalicelib.security.crypto import DecryptionFailed
from chalicelib.services.rules import rules_in_force
from chalicelib.services.sellers.seller_state import view_of
from chalicelib.store import audit, outbox, sellers
from chalicelib.store import robots as robot_store
from chalicelib.store.idempotency import run_once
from chalicelib.store.models import Outbox, Seller
from chalicelib.store.shard_reads import each_shard
from chalicelib.telemetry import count, logger

CLAIM = timedelta(minutes=3)  # an attempt that died mid-way is tried again after this


class RobotNotSet(LookupError):
    """The seller has no robot on this channel."""


@dataclass(frozen=True)
class RobotState:
    """One robot as the seller may see it: never its credential, only the last characters of it."""

    channel: str
    hint: str
    added_at: datetime
    paused_until: datetime | None
    refused: str | None


def client() -> RobotClient:
    """The robots' client at the configured send URLs (one per container)."""
    return container().robots()


def _context(seller_id: str, channel: str) -> dict[str, str]:
    return {"seller_id": seller_id, "purpose": f"robot-{channel}"}


def _credential(seller_id: str, channel: str, entry: dict) -> Credential | None:
    try:
        plain = container().token_cipher.decrypt(entry["blob"], context=_context(seller_id, channel))
    except (DecryptionFailed, KeyError):
        logger.error("robot credential does not decrypt", extra={"seller_id": seller_id, "channel": channel})
        return None
    data = json.loads(plain)
    return Credential(channel, data["token"], data.get("secret"))


def _state(channel: str, entry: dict) -> RobotState:
    paused = entry.get("paused_until")
    return RobotState(
        channel=channel,
        hint=entry.get("hint", ""),
        added_at=datetime.fromtimestamp(entry.get("added_at", 0), UTC),
        paused_until=datetime.fromtimestamp(paused, UTC) if paused else None,
        refused=entry.get("refused"),
    )


# -- the seller's set-up -----------------------------------------------------------------------------------------
def robots_of(seller_id: str) -> list[RobotState]:
    """The seller's robots (channel order)."""
    found = robot_store.of(sellers.get(seller_id))
    return [_state(channel, found[channel]) for channel in policy.CHANNELS if channel in found]


def set_robot(seller_id: str, channel: str, *, webhook: str, secret: str | None, now: datetime) -> RobotState:
    """Keep a robot's credential, encrypted for this seller and channel; raises ``CredentialInvalid``."""
    credential = parse_credential(channel, webhook, secret)
    plain = json.dumps({"token": credential.token, "secret": credential.secret})
    entry = {
        "blob": container().token_cipher.encrypt(plain, context=_context(seller_id, channel)),
        "hint": f"…{credential.token[-4:]}",
        "added_at": int(now.timestamp()),
    }

    def edit(current: dict) -> dict:
        return {**current, channel: entry}

    if not robot_store.change(seller_id, edit, now=now):
        raise RobotNotSet("no such seller")
    audit.append(seller_id, actor="seller", action="robot.set", target=channel, result="ok", detail=None, now=now)
    count("RobotSet")
    return _state(channel, entry)


def remove_robot(seller_id: str, channel: str, *, now: datetime) -> None:
    """Forget a robot; raises ``RobotNotSet`` when there is none on ``channel``."""
    found = []

    def edit(current: dict) -> dict | None:
        if channel not in current:
            return None
        found.append(channel)
        return {k: v for k, v in current.items() if k != channel}

    robot_store.change(seller_id, edit, now=now)
    if not found:
        raise RobotNotSet(f"no {channel} robot")
    audit.append(seller_id, actor="seller", action="robot.remove", target=channel, result="ok", detail=None, now=now)


def _mark(seller_id: str, channel: str, *, now: datetime, paused_until: datetime | None = None, refused=None) -> None:
    def edit(current: dict) -> dict | None:
        if channel not in current:
            return None
        entry = dict(current[channel])
        entry["paused_until"] = int(paused_until.timestamp()) if paused_until else None
        entry["refused"] = refused
        return {**current, channel: entry}

    robot_store.change(seller_id, edit, now=now)


def _refusal(exc: RobotRefused) -> str:
    return f"{exc.code}: {exc}" if exc.code is not None else str(exc)


def test_send(seller_id: str, channel: str, *, now: datetime, lang: str = i18n.DEFAULT) -> str:
    """Send the seller a test message through one robot: ``sent``, ``busy`` (over the minute's budget),
    ``throttled``, ``refused`` or ``unavailable``. A refusal is kept on the robot for the page to show."""
    seller = sellers.get(seller_id)
    entry = robot_store.of(seller).get(channel)
    if entry is None:
        raise RobotNotSet(f"no {channel} robot")
    credential = _credential(seller_id, channel, entry)
    if credential is None:
        return "refused"
    if not robot_store.reserve_send(seller_id, channel, cap=policy.MINUTE_CAP, now=now):
        return "busy"
    text = _robot_text(seller, i18n.text("robot.test", lang))
    result = _send(seller_id, channel, credential, text, now=now)
    if result == "sent" and (entry.get("refused") or entry.get("paused_until")):
        _mark(seller_id, channel, now=now)  # the robot works again: clear what the page warned about
    count(f"RobotTest_{result}")
    return result


def _send(seller_id: str, channel: str, credential: Credential, text: str, *, now: datetime) -> str:
    try:
        client().send(credential, text)
    except RobotThrottled:
        _mark(seller_id, channel, now=now, paused_until=now + policy.THROTTLE_PAUSE)
        count("RobotThrottled")
        return "throttled"
    except RobotRefused as exc:
        _mark(seller_id, channel, now=now, refused=_refusal(exc))
        count("RobotRefused")
        logger.warning("robot refused", extra={"seller_id": seller_id, "channel": channel, "code": exc.code})
        return "refused"
    except RobotUnavailable:
        count("RobotUnavailable")
        return "unavailable"
    return "sent"


def _robot_text(seller: Seller | None, message: str) -> str:
    shop = seller.nick if seller is not None else ""
    return f"【{shop}】{message}" if shop else message


# -- alerts: which robots, and when -------------------------------------------------------------------------------
def robots_for_alert(seller_id: str, kind: str, *, now: datetime) -> tuple[frozenset[str], datetime]:
    """The robots an alert of ``kind`` must reach and from when (after the quiet hours), per the seller's choices."""
    event = policy.event_of(kind)
    seller = sellers.cached(seller_id)
    if event is None or seller is None:
        return frozenset(), now
    configured = {c for c, entry in robot_store.of(seller).items() if not entry.get("refused")}
    if not configured:
        return frozenset(), now
    choices = view_of(seller).settings.alerts
    if event not in choices.robot_events:
        return frozenset(), now
    return frozenset(configured), policy.quiet_ends(now, choices.quiet_from, choices.quiet_to)


# -- delivery (the minute sweep) -----------------------------------------------------------------------------------
@dataclass
class Delivery:
    """What one delivery pass did."""

    sent: int = 0  # robot messages sent (a digest counts once)
    alerts: int = 0  # alerts they carried
    deferred: int = 0
    dropped: int = 0


def deliver_due(*, now: datetime, out_of_time: Callable[[], bool] = lambda: False) -> Delivery:
    """Send every alert whose time has come to its robots, one message (or digest) per seller and robot."""
    done = Delivery()
    waiting: dict[str, list[str]] = defaultdict(list)
    shards = range(container().settings.due_shards)
    at_once = rules_in_force().sweep_senders
    for due in each_shard(lambda shard: outbox.robots_due(shard, now=now), shards, at_once=at_once):
        for seller_id, ts_id in due:
            waiting[seller_id].append(ts_id)
    for seller_id, keys in waiting.items():
        if out_of_time():
            count("RobotDeliveryStoppedNearDeadline")
            break
        _deliver_seller(seller_id, sorted(keys), now=now, done=done)
    return done


def _deliver_seller(seller_id: str, keys: list[str], *, now: datetime, done: Delivery) -> None:
    seller = sellers.get(seller_id)
    configured = robot_store.of(seller)
    by_channel: dict[str, list[Outbox]] = defaultdict(list)
    for ts_id in keys:
        item = outbox.get(seller_id, ts_id)
        if item is None or not item.robots_pending or not outbox.claim(item, until=now + CLAIM, now=now):
            continue
        for channel in item.robots_pending:
            by_channel[channel].append(item)
    alerts = view_of(seller).settings.alerts if seller is not None else None
    for channel, items in by_channel.items():
        entry = configured.get(channel)
        credential = _credential(seller_id, channel, entry) if entry and not entry.get("refused") else None
        if credential is None:
            _finish(seller_id, items, channel, sent=False, done=done)
            continue
        later = _not_before(entry, alerts, now)
        if later is not None or not robot_store.reserve_send(seller_id, channel, cap=policy.MINUTE_CAP, now=now):
            _defer(seller_id, items, until=later or _next_minute(now), failed=False, done=done)
            continue
        _send_batch(seller, channel, credential, items, now=now, done=done)


def _not_before(entry: dict, alerts, now: datetime) -> datetime | None:
    paused = entry.get("paused_until")
    if paused and paused > now.timestamp():
        return datetime.fromtimestamp(paused, UTC)
    if alerts is not None and policy.in_quiet_hours(now, alerts.quiet_from, alerts.quiet_to):
        return policy.quiet_ends(now, alerts.quiet_from, alerts.quiet_to)
    return None


def _next_minute(now: datetime) -> datetime:
    return now.replace(second=0, microsecond=0) + timedelta(minutes=1)


# What a robot answered that stands: a message it took, or a refusal it will repeat. Only these are remembered
# (``run_once``) against a repeat of the same delivery; a throttled or unreachable robot is sent to again.
FINAL = frozenset({"sent", "refused"})


class _NotDelivered(Exception):
    """The robot did not take the message this time (throttled, unreachable)."""

    def __init__(self, outcome: str) -> None:
        super().__init__(outcome)
        self.outcome = outcome


def _send_batch(seller: Seller, channel: str, credential: Credential, items: list[Outbox], *, now, done) -> None:
    seller_id = seller.seller_id
    text = _robot_text(
        seller,
        policy.compose(
            [item.message for item in items],
            title=lambda n: i18n.text("robot.digest_title", n=n),
            more=lambda n: i18n.text("robot.more", n=n),
        ),
    )
    key = {"seller_id": seller_id, "channel": channel, "items": [item.ts_id for item in items]}

    def attempt() -> dict:
        outcome = _send(seller_id, channel, credential, text, now=now)
        if outcome not in FINAL:
            raise _NotDelivered(outcome)  # not remembered: the next attempt sends again
        return {"result": outcome}

    try:
        outcome = run_once("robot", key, attempt)["result"]
    except _NotDelivered as exc:
        outcome = exc.outcome
    except Exception:
        _defer(seller_id, items, until=now + policy.retry_delay(1), failed=True, done=done)
        raise
    if outcome == "sent":
        _finish(seller_id, items, channel, sent=True, done=done)
        done.sent += 1
        count("RobotDigest" if len(items) > 1 else "RobotAlert")
    elif outcome == "refused":
        _finish(seller_id, items, channel, sent=False, done=done)
    elif outcome == "throttled":
        _defer(seller_id, items, until=now + policy.THROTTLE_PAUSE, failed=False, done=done)
    else:
        attempts = max(int(item.robot_attempts or 0) for item in items) + 1
        if attempts >= policy.MAX_ATTEMPTS:
            _finish(seller_id, items, channel, sent=False, done=done)
        else:
            _defer(seller_id, items, until=now + policy.retry_delay(attempts), failed=True, done=done)


def _finish(seller_id: str, items: list[Outbox], channel: str, *, sent: bool, done: Delivery) -> None:
    for item in items:
        outbox.robot_done(seller_id, item.ts_id, channel, sent=sent, pending=frozenset(item.robots_pending or ()))
    if sent:
        done.alerts += len(items)
    else:
        done.dropped += len(items)


def _defer(seller_id: str, items: list[Outbox], *, until: datetime, failed: bool, done: Delivery) -> None:
    for item in items:
        outbox.defer(seller_id, item.ts_id, until=until, failed=failed)
    done.deferred += len(items)
