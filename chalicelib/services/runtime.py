"""What services share within a container, read through the container: the rules in force, the marketplace
clients and the buyer-hash key."""

from __future__ import annotations

import random
from collections.abc import Mapping

from chalicelib.config import default_rules_document
from chalicelib.container import container
from chalicelib.domain.rules import Rules, RulesInvalid, parse_rules, retired_keys
from chalicelib.services import skipped_items
from chalicelib.store import control
from chalicelib.telemetry import count, logger


def rules() -> Rules:
    """The rules in force: shipped default merged with the Control override (re-read within a minute).

    An override this build cannot use (it fails validation, or is not a document at all) never takes the
    container down: the last good rules stay in force — the packaged default when there were none — and the
    refusal is logged and counted once per container and override.
    """
    override = control.read_rules_override()
    return container().cache("rules").get_or_load(repr(override), lambda: _parsed(override))


def _parsed(override) -> Rules:
    retired = retired_keys(override) if isinstance(override, Mapping) else []
    if retired:  # once per container and override: the operator should drop them, nothing breaks meanwhile
        logger.warning("rules override sets retired keys", extra={"keys": retired})
        count("RulesRetiredKeys")
    state = container().kept
    try:
        parsed = parse_rules(default_rules_document(), override)
    except RulesInvalid as exc:
        kept = state.get("last_good_rules") or parse_rules(default_rules_document())
        logger.error(
            "rules override unusable; the last good rules stay in force",
            extra={"reason": exc.reason[:500], "kept_version": kept.version},
        )
        count("RulesOverrideUnusable")
        return kept
    state["last_good_rules"] = parsed
    return parsed


def top_client():
    """The TOP client for this container (one connection pool); an item it skips as unreadable is kept for the
    operator (``skipped_items``)."""
    client = container().top()
    if client.on_unreadable is None:
        now = container().clock.now

        def keep(api: str, reason: str, ref: str | None) -> None:
            skipped_items.record(api, reason, ref, now=now())

        client.on_unreadable = keep
    return client


def oauth_client():
    """The OAuth client for this container."""
    return container().oauth()


def buyer_secret() -> bytes:
    """The key of buyer-identity hashes."""
    return container().buyer_hash_secret()


# The one source of chance in scheduling (the sellers' random delays); tests and the replay seed it.
_RNG = random.Random()


def rng() -> random.Random:
    """The random number generator scheduling draws from (``rng().seed(n)`` makes runs repeatable)."""
    return _RNG
