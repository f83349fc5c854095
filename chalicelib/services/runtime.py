"""What services share within a container, read through the container: the rules in force, the marketplace
clients and the buyer-hash key."""

from __future__ import annotations

import random

from chalicelib.config import default_rules_document
from chalicelib.container import container
from chalicelib.domain.rules import Rules, parse_rules, retired_keys
from chalicelib.store import control
from chalicelib.telemetry import count, logger


def rules() -> Rules:
    """The rules in force: shipped default merged with the Control override (re-read within a minute)."""
    override = control.read_rules_override()
    return container().cache("rules").get_or_load(repr(override), lambda: _parsed(override))


def _parsed(override) -> Rules:
    retired = retired_keys(override)
    if retired:  # once per container and override: the operator should drop them, nothing breaks meanwhile
        logger.warning("rules override sets retired keys", extra={"keys": retired})
        count("RulesRetiredKeys")
    return parse_rules(default_rules_document(), override)


def top_client():
    """The TOP client for this container (one connection pool)."""
    return container().top()


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
