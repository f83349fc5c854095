"""The marketplace rules in force: the shipped default merged with the Control table's override."""

from __future__ import annotations

from collections.abc import Mapping

from chalicelib.config import default_rules_document
from chalicelib.container import container
from chalicelib.domain.rules import Rules, RulesInvalid, parse_rules, retired_keys
from chalicelib.store import control
from chalicelib.telemetry import count, logger


def rules_in_force() -> Rules:
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
    state = container().kept("rules_last_good", dict)  # kept for the container's life, never expired
    try:
        parsed = parse_rules(default_rules_document(), override)
    except RulesInvalid as exc:
        kept = state.get("rules") or parse_rules(default_rules_document())
        logger.error(
            "rules override unusable; the last good rules stay in force",
            extra={"reason": exc.reason[:500], "kept_version": kept.version},
        )
        count("RulesOverrideUnusable")
        return kept
    state["rules"] = parsed
    return parsed
