"""Control table: kill switches, dry-run sets, the global pause and the rules override.

All switches live in one item so a worker reads them with one cached GetItem, not one per seller.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chalicelib.container import container
from chalicelib.store.conditional import save_if, update_if
from chalicelib.store.models import Control

SWITCHES = "switches"
RULES = "rules"


class CallsPaused(RuntimeError):
    """A quota-ban pause is in force: reads count against the quota too, so a job that reads waits it out."""


@dataclass(frozen=True)
class Switches:
    """A snapshot of the operational switches."""

    kill_global: bool = False
    paused_until: int = 0
    kill_sellers: frozenset[str] = frozenset()
    dry_run_sellers: frozenset[str] = frozenset()

    def paused(self, now: datetime) -> bool:
        """True while a quota ban pause is in force."""
        return self.paused_until > now.timestamp()


def _cached(key: str, load):
    # Switches are read at most every ``CACHE_TTLS["control"]`` seconds per container.
    return container().cache("control").get_or_load(key, load)


def forget_cache() -> None:
    """Drop cached switches and rules (after a write in this container)."""
    container().cache("control").clear()


def read_switches(*, fresh: bool = False) -> Switches:
    """Current switches (cached per container unless ``fresh``)."""

    def load() -> Switches:
        try:
            item = Control.get(SWITCHES)
        except Control.DoesNotExist:
            return Switches()
        return Switches(
            kill_global=bool(item.kill_global),
            paused_until=int(item.paused_until or 0),
            kill_sellers=frozenset(item.kill_sellers or ()),
            dry_run_sellers=frozenset(item.dry_run_sellers or ()),
        )

    return load() if fresh else _cached(SWITCHES, load)


def set_kill_global(on: bool, *, now: datetime) -> None:
    """Turn the global kill switch on or off."""
    Control(SWITCHES).update(actions=[Control.kill_global.set(on), Control.updated_at.set(int(now.timestamp()))])
    forget_cache()


def _set_membership(attr, seller_id: str, on: bool, now: datetime) -> None:
    action = attr.add({seller_id}) if on else attr.delete({seller_id})
    Control(SWITCHES).update(actions=[action, Control.updated_at.set(int(now.timestamp()))])
    forget_cache()


def set_kill_seller(seller_id: str, on: bool, *, now: datetime) -> None:
    """Turn one seller's kill switch on or off."""
    _set_membership(Control.kill_sellers, seller_id, on, now)


def set_dry_run_seller(seller_id: str, on: bool, *, now: datetime) -> None:
    """Put one seller in or out of dry-run."""
    _set_membership(Control.dry_run_sellers, seller_id, on, now)


def pause_until(until: datetime, *, now: datetime) -> None:
    """Pause all marketplace writes until ``until`` (a quota ban); never shortens a longer pause."""
    epoch = int(until.timestamp())
    item = Control(SWITCHES)
    update_if(  # refused when a longer pause is already in force
        item,
        actions=[Control.paused_until.set(epoch), Control.updated_at.set(int(now.timestamp()))],
        condition=Control.paused_until.does_not_exist() | (Control.paused_until < epoch),
    )
    forget_cache()


def read_rules_override() -> dict | None:
    """The operator's override of the shipped rules document, if any (cached)."""

    def load() -> dict | None:
        try:
            return Control.get(RULES).value
        except Control.DoesNotExist:
            return None

    return _cached(RULES, load)


def write_rules_override(doc: dict, *, now: datetime) -> None:
    """Store a rules override; every container picks it up within the cache period."""
    Control(RULES, value=doc, updated_at=int(now.timestamp())).save()
    forget_cache()


def claim_once(key: str, *, now: datetime, expire_at: datetime | None = None) -> bool:
    """Record a once-only marker; False when it was recorded before (used for OAuth state replay)."""
    marker = Control(key, updated_at=int(now.timestamp()), expire_at=expire_at)
    return save_if(marker, condition=Control.key.does_not_exist())
