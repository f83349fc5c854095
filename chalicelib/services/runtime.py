"""What services share within a container: settings, the current rules and the marketplace clients."""

from __future__ import annotations

from functools import cache

from chalicelib.config import clock, default_rules_document, get_settings
from chalicelib.domain.rules import Rules, parse_rules
from chalicelib.store import control

_rules_cache: dict[str, Rules] = {}


def rules() -> Rules:
    """The rules in force: shipped default merged with the Control override (re-read within a minute)."""
    override = control.read_rules_override()
    key = repr(override)
    if key not in _rules_cache:
        _rules_cache.clear()
        _rules_cache[key] = parse_rules(default_rules_document(), override)
    return _rules_cache[key]


@cache
def top_client():
    """The TOP client for this container (one connection pool)."""
    from chalicelib.marketplace.client import TopClient

    s = get_settings()
    return TopClient(s.marketplace_url, s.app_key, s.app_secret, now=clock.now)


@cache
def oauth_client():
    """The OAuth client for this container."""
    from chalicelib.marketplace.oauth import OAuthClient

    s = get_settings()
    return OAuthClient(s.oauth_url, s.app_key, s.app_secret, now=clock.now)


def buyer_secret() -> bytes:
    """The key of buyer-identity hashes."""
    return get_settings().buyer_hash_secret.encode("utf-8")


def reset() -> None:
    """Forget everything built for this container (tests and the local stack rebind settings)."""
    top_client.cache_clear()
    oauth_client.cache_clear()
    _rules_cache.clear()
