"""The marketplace rules in force: the shipped default merged with the Control table's override."""

from __future__ import annotations

from chalicelib.config import default_rules_document
from chalicelib.container import container
from chalicelib.domain.rules import Rules, parse_rules, retired_keys
from chalicelib.store import control
from chalicelib.telemetry import count, logger


def rules_in_force() -> Rules:
    """The rules in force: shipped default merged with the Control override (re-read within a minute)."""
    override = control.read_rules_override()
    return container().cache("rules").get_or_load(repr(override), lambda: _parsed(override))


def _parsed(override) -> Rules:
    retired = retired_keys(override)
    if retired:  # once per container and override: the operator should drop them, nothing breaks meanwhile
        logger.warning("rules override sets retired keys", extra={"keys": retired})
        count("RulesRetiredKeys")
    return parse_rules(default_rules_document(), override)
