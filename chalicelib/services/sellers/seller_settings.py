"""Use cases: read and change a seller's settings (validated as a whole), and preview a review template."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.domain import templates
from chalicelib.domain.lint import LintKind, LintProblem, lint
from chalicelib.domain.settings import MAX_CATEGORIES, SellerSettings, SettingsInvalid, apply_update
from chalicelib.security.buyer_id import mask_nick
from chalicelib.services.rules import rules_in_force
from chalicelib.services.sellers.seller_views import seller_view
from chalicelib.store import audit, seller_writes, triage_data
from chalicelib.telemetry import count

SAMPLE_BUYER = "tb_sample_buyer"
SAMPLE_ITEM = "保温杯"


class SettingsConflict(RuntimeError):
    """The settings changed between reading and saving them (another tab or an operator); nothing was saved."""


@dataclass(frozen=True)
class SettingsState:
    """The seller's saved settings, what the plan allows, and the limits templates are checked against."""

    settings: SellerSettings
    features: frozenset[str]
    version: int
    content_max_length: int
    explain_max_length: int


def _state(view) -> SettingsState:
    rules = rules_in_force()
    return SettingsState(
        settings=view.settings,
        features=view.features(),
        version=int(view.seller.settings_version or 0),
        content_max_length=rules.content_max_length,
        explain_max_length=rules.explain_max_length,
    )


def read_settings(seller_id: str) -> SettingsState:
    """The seller's settings as saved."""
    return _state(seller_view(seller_id))


def update_settings(seller_id: str, patch: Mapping[str, Any], *, now: datetime, actor: str = "seller") -> SettingsState:
    """Merge ``patch`` over the saved settings and save the result only if all of it is valid.

    Raises ``SettingsInvalid`` (every bad field, nothing saved) or ``SettingsConflict``.
    """
    view = seller_view(seller_id)
    try:
        updated = apply_update(view.settings, patch, features=view.features(), rules=rules_in_force())
    except SettingsInvalid as exc:
        # One round: unknown categories are named beside whatever else is wrong.
        raise SettingsInvalid({**_unknown_categories(patch), **exc.fields}) from None
    _check_categories(updated)
    # Only the settings and their version are written, on the version read: billing, tokens or status changing
    # meanwhile cannot make this a conflict, and another settings change always does.
    read = int(view.seller.settings_version or 0)
    version = seller_writes.set_settings(seller_id, updated.model_dump(mode="json"), expected_version=read, now=now)
    if version is None:
        raise SettingsConflict("settings changed meanwhile; reload and try again")
    audit.append(
        seller_id,
        actor=actor,
        action="settings.update",
        target=None,
        result="ok",
        detail={"fields": sorted(patch), "version": version},
        now=now,
    )
    count("SettingsUpdated")
    return _state(seller_view(seller_id))


def _check_categories(settings) -> None:
    unknown = _unknown_categories(
        {
            "explain_by_category": settings.explain_by_category,
            "auto_explain_categories": settings.auto_explain_categories,
        }
    )
    # A category answered automatically must have earned it: measured precision of the model in force.
    known, eligible = set(triage_data.categories().keys()), triage_data.auto_categories()
    unknown |= {
        f"auto_explain_categories.{key}": f"complaint category {key!r} is not accurate enough to reply automatically"
        for key in settings.auto_explain_categories
        if key in known and key not in eligible
    }
    if unknown:
        raise SettingsInvalid(unknown)


def _unknown_categories(data: Mapping[str, Any]) -> dict[str, str]:
    # Categories are data an operator may replace; a seller can only name the ones in force. Only what the model
    # would take is looked at (at most MAX_CATEGORIES names, each a string), so the work stays bounded.
    known = set(triage_data.categories().keys())
    unknown = {}
    for field in ("explain_by_category", "auto_explain_categories"):
        keys = data.get(field)
        if not isinstance(keys, Mapping | list | tuple) or len(keys) > MAX_CATEGORIES:
            continue
        for key in keys:
            if isinstance(key, str) and key not in known:
                unknown[f"{field}.{key}"] = f"unknown complaint category {key!r}"
    return unknown


@dataclass(frozen=True)
class SampleTrade:
    """The trade a preview is rendered for (the seller's own example, never stored)."""

    buyer_nick: str = SAMPLE_BUYER
    item_title: str = SAMPLE_ITEM
    trade_end: datetime | None = None


@dataclass(frozen=True)
class Preview:
    """A template rendered for a sample trade, with the content lint's verdict."""

    content: str
    problems: tuple[LintProblem, ...]
    max_length: int

    @property
    def ok(self) -> bool:
        """True when this text could be posted under the current rules."""
        return not self.problems


def preview_template(
    seller_id: str, *, template: str | None, kind: LintKind, sample: SampleTrade, now: datetime
) -> Preview:
    """Render ``template`` (default: the seller's first one of ``kind``) for ``sample`` and lint the result.

    The buyer appears only masked in the text; the raw sample nick is passed to the lint so a template
    that would leak it is reported, exactly as before a real post.
    """
    view = seller_view(seller_id)
    rules = rules_in_force()
    max_length = rules.explain_max_length if kind == "explain" else rules.content_max_length
    if template is None:
        saved = view.settings.explain_templates if kind == "explain" else view.settings.templates
        template = saved[0] if saved else ""
    problems = [LintProblem("template_invalid", reason) for reason in templates.template_errors(template)]
    if problems:
        return Preview(content="", problems=tuple(problems), max_length=max_length)
    variables = templates.variables_for(
        buyer_masked=mask_nick(sample.buyer_nick),
        item_title=sample.item_title,
        shop_name=view.seller.nick,
        trade_end=sample.trade_end or now,
    )
    content = templates.render(template, variables)
    found = lint(content, rules, buyer_identifiers=(sample.buyer_nick,), kind=kind)
    return Preview(content=content, problems=tuple(found), max_length=max_length)
