"""The Seller item's writers, one per concern: tokens, authorization, settings, billing, status, sessions, erasure.

Each is one UpdateItem of its own attributes, conditional on what it depends on and on nothing else, so no writer
loses another's change: a token refresh keeps its new grant whatever settings or billing wrote meanwhile, a
settings change conflicts only with another settings change (``settings_version``), and billing compares only
the billing fields it read. There is no whole-item save. The job-index keys derived from a concern
(``token_due_at`` from the tokens, ``shard``/``billing_at`` dropped at erasure) are written with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chalicelib.store import sellers
from chalicelib.store.conditional import update_if
from chalicelib.store.models import Seller

# Statuses an authorization turns back to ``active`` (a lapsed seller stays lapsed: that is billing's to change).
_REACTIVATED = ("active", "reauth", "purged")


def _epoch(now: datetime) -> int:
    return int(now.timestamp())


def update(seller_id: str, actions: list, condition=None, *, now: datetime) -> Seller | None:
    """Apply ``actions`` (and ``updated_at``) if the seller exists and ``condition`` holds; the seller as written,
    or None. The one conditional write of a seller: every writer of its attributes goes through it."""
    item = Seller(seller_id)
    exists = Seller.seller_id.exists()
    written = update_if(
        item,
        actions=[*actions, Seller.updated_at.set(_epoch(now))],
        condition=exists if condition is None else exists & condition,
    )
    return item if written else None


def _update(seller_id: str, actions: list, condition=None, *, now: datetime) -> Seller | None:
    """``update``, keeping the container's cached seller in step with what was written."""
    item = update(seller_id, actions, condition, now=now)
    if item is None:
        sellers.forget(seller_id)
    else:
        sellers.remember(item)
    return item


def _set_or_remove(attr, value) -> object:
    return attr.remove() if value is None else attr.set(value)


@dataclass(frozen=True)
class Tokens:
    """A grant as stored: the KMS envelopes and the expiry instants (epoch seconds)."""

    blobs: dict
    expires_at: int
    refresh_expires_at: int | None


def _token_actions(tokens: Tokens) -> list:
    return [
        Seller.tokens.set(tokens.blobs),
        Seller.token_expires_at.set(tokens.expires_at),
        _set_or_remove(Seller.refresh_expires_at, tokens.refresh_expires_at),
        # The tokens job finds the seller by this key before the token expires (to refresh it, or to ask the
        # seller to authorize again when it cannot be refreshed).
        Seller.token_due_at.set(tokens.expires_at),
    ]


def set_tokens(seller_id: str, tokens: Tokens, *, now: datetime) -> Seller | None:
    """Store a refreshed grant; None when the seller is gone or purged (nothing is stored then)."""
    return _update(seller_id, _token_actions(tokens), Seller.status != "purged", now=now)


def authorize(seller_id: str, nick: str, tokens: Tokens, *, now: datetime) -> Seller | None:
    """Store the grant of an authorization with the shop's nick; a seller in ``reauth`` or ``purged`` becomes
    ``active`` again in the same write (a ``lapsed`` one stays lapsed). None when the seller does not exist."""
    actions = [
        Seller.nick.set(nick),
        *_token_actions(tokens),
        # Back in the per-seller jobs' indexes (a purged seller left them; for anyone else this changes nothing),
        # and due for the next billing pass unless it already has its time.
        Seller.shard.set(sellers.seller_shard(seller_id)),
        Seller.billing_at.set(Seller.billing_at | _epoch(now)),
    ]
    reactivated = _update(
        seller_id, [*actions, Seller.status.set("active")], Seller.status.is_in(*_REACTIVATED), now=now
    )
    return reactivated if reactivated is not None else _update(seller_id, actions, now=now)


def set_settings(seller_id: str, settings: dict, *, expected_version: int, now: datetime) -> int | None:
    """Store validated settings if nobody changed them since ``expected_version``; the new version, or None
    (another settings change came first, or the seller is gone)."""
    version = Seller.settings_version
    unchanged = version == expected_version
    if expected_version == 0:
        unchanged = version.does_not_exist() | unchanged
    done = _update(seller_id, [Seller.settings.set(settings), version.set(expected_version + 1)], unchanged, now=now)
    return None if done is None else expected_version + 1


@dataclass(frozen=True)
class Billing:
    """The billing concern of a seller: what its orders entitle it to, and its status as billing sees it."""

    paid_until: int | None
    plan: str | None
    status: str
    entitled_since: int | None

    @classmethod
    def of(cls, seller: Seller) -> Billing:
        """The billing fields of a stored seller."""
        return cls(seller.paid_until, seller.plan, seller.status, seller.entitled_since)


def _is(attr, value):
    return attr.does_not_exist() if value is None else attr == value


def set_billing(
    seller_id: str, expected: Billing, new: Billing, *, now: datetime, billing_at: int | None = None
) -> Seller | None:
    """Store ``new`` if the billing fields are still ``expected``; None when they changed (read and retry)."""
    condition = (
        _is(Seller.paid_until, expected.paid_until)
        & _is(Seller.plan, expected.plan)
        & (Seller.status == expected.status)
        & _is(Seller.entitled_since, expected.entitled_since)
    )
    actions = [
        _set_or_remove(Seller.paid_until, new.paid_until),
        _set_or_remove(Seller.plan, new.plan),
        Seller.status.set(new.status),
        _set_or_remove(Seller.entitled_since, new.entitled_since),
    ]
    if billing_at is not None:
        actions.append(Seller.billing_at.set(billing_at))
    return _update(seller_id, actions, condition, now=now)


def set_billing_at(seller_id: str, at: int, *, now: datetime) -> Seller | None:
    """When the daily billing pass must look at the seller next (its job index key); purged sellers have none."""
    return _update(seller_id, [Seller.billing_at.set(at)], Seller.status != "purged", now=now)


def add_reminder(seller_id: str, key: str, *, stale: set[str], now: datetime) -> Seller | None:
    """Record an expiry reminder as sent (``key``), then drop the marks of earlier paid periods (``stale``)."""
    done = _update(seller_id, [Seller.reminders_sent.add({key})], now=now)
    if done is not None and stale:
        done = _update(seller_id, [Seller.reminders_sent.delete(stale)], now=now)
    return done


def mark_reauth(seller_id: str, *, now: datetime) -> Seller | None:
    """The seller must authorize again: status ``reauth`` and out of the tokens job's index; None when it already
    was (or is gone, or purged)."""
    return _update(
        seller_id,
        [Seller.status.set("reauth"), Seller.token_due_at.remove()],
        ~Seller.status.is_in("reauth", "purged"),
        now=now,
    )


def erase(seller_id: str, *, now: datetime) -> Seller | None:
    """Forget the seller's tokens and reminder marks, take it out of every job index, and mark it ``purged``."""
    return _update(
        seller_id,
        [
            Seller.tokens.remove(),
            Seller.token_expires_at.remove(),
            Seller.refresh_expires_at.remove(),
            Seller.reminders_sent.remove(),
            Seller.token_due_at.remove(),
            Seller.shard.remove(),
            Seller.billing_at.remove(),
            Seller.status.set("purged"),
        ],
        now=now,
    )


def revoke_sessions(seller_id: str, *, now: datetime) -> Seller | None:
    """End every session issued up to now (``sessions_valid_after``); None when the seller does not exist."""
    return _update(seller_id, [Seller.sessions_valid_after.set(_epoch(now))], now=now)
