"""A seller's settings: review mode and timing, templates, reactions to buyers' ratings, alerts.

``SellerSettings`` checks each field on its own; ``validate_settings`` adds what depends on the rules and
on the seller's plan, and reports every bad field with a reason the seller can act on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator, model_validator

from chalicelib.domain.alert_policy import EVENTS, AlertEvent
from chalicelib.domain.lint import LintKind, lint
from chalicelib.domain.order_filters import OrderFilters
from chalicelib.domain.phrases import PhraseType
from chalicelib.domain.rules import Rules
from chalicelib.domain.templates import TemplateStrategy, render, template_errors

ReviewMode = Literal["immediate", "delay", "after_buyer"]
NeutralOrBadPolicy = Literal["skip", "rate_good_anyway", "hold_for_review"]
ExtortionAction = Literal["alert", "blacklist", "memo"]

MAX_TEMPLATES = 20
# The most characters one template may have: twice the longest text the marketplace takes today. A longer one
# could never be posted, and the bound keeps a settings request's work small whatever it sends.
TEMPLATE_MAX_CHARS = 1000
MAX_CATEGORIES = 30

# Lint findings about the posting rather than the text; templates are judged on their text only.
_NOT_ABOUT_TEXT = frozenset({"result_not_allowed", "empty_content"})

# Plan feature each non-default choice needs; "immediate" is part of every plan.
_MODE_FEATURE = {"delay": "delay", "after_buyer": "after_buyer"}
_FLAG_FEATURE = {"auto_explain": "auto_explain", "auto_blacklist_on_bad": "auto_blacklist"}

DEFAULT_TEMPLATES = (
    "感谢亲的支持与信任，欢迎再次光临{shop_name}！",
    "谢谢亲的惠顾，祝您生活愉快，期待下次继续为您服务！",
)


class SettingsInvalid(ValueError):
    """Settings that cannot be saved; ``fields`` maps each bad field (dotted path) to the reason."""

    def __init__(self, fields: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{name}: {reason}" for name, reason in fields.items()))
        self.fields = dict(fields)


class Alerts(BaseModel):
    """Where a seller is alerted about bad ratings and failures."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    outbox: bool = True
    sns: bool = False
    # Events sent to the seller's group robots (every alert is kept in the inbox), and the quiet hours (Beijing
    # time, from ``quiet_from`` o'clock up to ``quiet_to``; both or neither) during which robots wait.
    robot_events: tuple[AlertEvent, ...] = EVENTS
    quiet_from: int | None = Field(default=None, ge=0, le=23)
    quiet_to: int | None = Field(default=None, ge=0, le=23)

    @model_validator(mode="after")
    def _quiet_hours_pair(self) -> Alerts:
        if (self.quiet_from is None) != (self.quiet_to is None):
            raise ValueError("set both quiet hours (from and to) or neither")
        return self


Template = Annotated[str, StringConstraints(max_length=TEMPLATE_MAX_CHARS)]

# The longest random delay a seller may set: the rating window (15 days today) is checked against the rules.
MAX_DELAY_MINUTES = 360 * 60


class RandomDelay(BaseModel):
    """A review goes out a random number of minutes in ``[min_minutes, max_minutes]`` after it would otherwise
    be due, never later than the fallback before the rating window closes."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    min_minutes: int = Field(default=0, ge=0, le=MAX_DELAY_MINUTES)
    max_minutes: int = Field(default=0, ge=0, le=MAX_DELAY_MINUTES)

    @model_validator(mode="after")
    def _ordered(self) -> RandomDelay:
        if self.min_minutes > self.max_minutes:
            raise ValueError("min_minutes must not be more than max_minutes")
        return self


def _texts(value: tuple[str, ...]) -> tuple[str, ...]:
    if any(not text.strip() for text in value):
        raise ValueError("templates must not be blank")
    return value


class SellerSettings(BaseModel):
    """The per-seller settings as stored on the seller record."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    mode: ReviewMode = "immediate"
    delay_hours: int = Field(default=24, ge=0, le=360)
    fallback_margin_hours: int = Field(default=12, ge=1)
    templates: tuple[Template, ...] = Field(default=DEFAULT_TEMPLATES, min_length=1, max_length=MAX_TEMPLATES)
    template_strategy: TemplateStrategy = "rotate"
    on_buyer_neutral_or_bad: NeutralOrBadPolicy = "skip"
    auto_blacklist_on_bad: bool = False
    auto_explain: bool = False
    explain_templates: tuple[Template, ...] = Field(default=(), max_length=MAX_TEMPLATES)
    # The seller's own replies per complaint category (the category's defaults are used where none are set),
    # and the categories answered automatically when auto_explain is on (none listed: every category that
    # allows it). Category keys are checked against the categories in force by the service that saves them.
    explain_by_category: dict[str, tuple[Template, ...]] = Field(default_factory=dict, max_length=MAX_CATEGORIES)
    auto_explain_categories: tuple[str, ...] = Field(default=(), max_length=MAX_CATEGORIES)
    # Whether the seller's category corrections join the pool shared across shops (anonymised) to train the model.
    share_corrections: bool = False
    alerts: Alerts = Alerts()
    dry_run: bool = False
    # 差评师预警, opt-in both ways and off until the seller turns it on: share this shop's confirmations (counted
    # only with other shops', never naming it), and be warned when a buyer flagged by enough shops pays; then
    # also blacklist the buyer or mark the order's memo with ``extortion_memo_flag`` (0 grey … 5 pink).
    extortion_contribute: bool = False
    extortion_receive: bool = False
    extortion_on_paid: ExtortionAction = "alert"
    extortion_memo_flag: int = Field(default=1, ge=0, le=5)
    # Which finished trades get no review, a random spread of review times, and the built-in phrase types whose
    # phrases join the seller's own lines.
    filters: OrderFilters = OrderFilters()
    random_delay: RandomDelay | None = None
    phrase_types: tuple[PhraseType, ...] = Field(default=(), max_length=8)

    _templates_not_blank = field_validator("templates", "explain_templates")(_texts)


def default_settings(rules: Rules | None = None) -> SellerSettings:
    """Settings of a newly authorized seller: good review at trade end, rotating the default texts.

    With ``rules``, the fallback margin is the one the rules document recommends.
    """
    if rules is None:
        return SellerSettings()
    return SellerSettings(fallback_margin_hours=rules.fallback_margin_hours)


def _field_name(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc) or "settings"


def _plan_problems(settings: SellerSettings, features: frozenset[str]) -> dict[str, str]:
    problems = {}
    needed = _MODE_FEATURE.get(settings.mode)
    if needed and needed not in features:
        problems["mode"] = f"mode {settings.mode!r} is not included in your plan"
    for flag, feature in _FLAG_FEATURE.items():
        if getattr(settings, flag) and feature not in features:
            problems[flag] = f"{flag} is not included in your plan"
    return problems


def _text_problems(field: str, texts: tuple[str, ...], rules: Rules, kind: LintKind) -> dict[str, str]:
    problems = {}
    for index, text in enumerate(texts):
        reasons = template_errors(text)
        if not reasons:
            # Placeholders render empty so their names cannot trip word or pattern checks; the real
            # content is linted again, with the buyer's identity, just before it is posted.
            found = lint(render(text, {}), rules, kind=kind)
            reasons = [problem.message for problem in found if problem.code not in _NOT_ABOUT_TEXT]
        if reasons:
            problems[f"{field}.{index}"] = "; ".join(reasons)
    return problems


def _texts_sent(value: object) -> tuple[str, ...] | None:
    # Only a list the model would take is checked here, so this work is bounded like the model's own.
    if not isinstance(value, list | tuple) or len(value) > MAX_TEMPLATES:
        return None
    if not all(isinstance(text, str) and len(text) <= TEMPLATE_MAX_CHARS for text in value):
        return None
    return tuple(value)


def _sent_text_problems(data: object, rules: Rules) -> dict[str, str]:
    """The template problems of the texts in ``data`` when the settings as a whole do not parse."""
    if not isinstance(data, Mapping):
        return {}
    problems: dict[str, str] = {}
    for field, kind in (("templates", "review"), ("explain_templates", "explain")):
        if (texts := _texts_sent(data.get(field))) is not None:
            problems |= _text_problems(field, texts, rules, kind)
    by_category = data.get("explain_by_category")
    if isinstance(by_category, Mapping) and len(by_category) <= MAX_CATEGORIES:
        for category, value in by_category.items():
            if (texts := _texts_sent(value)) is not None:
                problems |= _text_problems(f"explain_by_category.{category}", texts, rules, "explain")
    return problems


def validate_settings(data: Mapping[str, Any], *, features: frozenset[str], rules: Rules) -> SellerSettings:
    """Parse and check settings against the ``rules`` and the plan's ``features``; raise ``SettingsInvalid``."""
    try:
        settings = SellerSettings.model_validate(data)
    except ValidationError as exc:
        # Every problem in one round: a bad number must not hide what is wrong in the templates beside it.
        fields = {_field_name(err["loc"]): err["msg"] for err in exc.errors()}
        for name, reason in _sent_text_problems(data, rules).items():
            fields.setdefault(name, reason)
        raise SettingsInvalid(fields) from None

    problems: dict[str, str] = {}
    max_margin = rules.rating_window_days * 24 - 1
    if settings.fallback_margin_hours > max_margin:
        problems["fallback_margin_hours"] = f"must be at most {max_margin} hours (the rating window less an hour)"
    if settings.random_delay is not None and settings.random_delay.max_minutes > max_margin * 60:
        problems["random_delay.max_minutes"] = f"must be at most {max_margin * 60} minutes (inside the rating window)"
    problems |= _text_problems("templates", settings.templates, rules, "review")
    problems |= _text_problems("explain_templates", settings.explain_templates, rules, "explain")
    for category, texts in settings.explain_by_category.items():
        if len(texts) > MAX_TEMPLATES:
            problems[f"explain_by_category.{category}"] = f"List should have at most {MAX_TEMPLATES} items"
            continue
        for index, text in enumerate(texts):
            if not text.strip():
                problems[f"explain_by_category.{category}.{index}"] = "templates must not be blank"
        problems |= _text_problems(f"explain_by_category.{category}", texts, rules, "explain")
    problems |= _plan_problems(settings, features)
    if problems:
        raise SettingsInvalid(problems)
    return settings


def _merge(base: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in patch.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def apply_update(
    current: SellerSettings, patch: Mapping[str, Any], *, features: frozenset[str], rules: Rules
) -> SellerSettings:
    """The settings after merging ``patch`` over ``current``, validated as a whole.

    Nested objects (``alerts``) merge key by key; lists replace. On ``SettingsInvalid`` nothing is meant
    to change: the caller keeps ``current``.
    """
    if not isinstance(patch, Mapping):
        raise SettingsInvalid({"settings": "an update must be an object"})
    return validate_settings(_merge(current.model_dump(), patch), features=features, rules=rules)


def effective_mode(settings: SellerSettings, features: frozenset[str]) -> ReviewMode:
    """The mode to schedule with: the seller's choice if the plan grants it, else ``immediate``.

    A downgraded plan must not keep a paid timing mode working, nor leave the seller's trades unrated.
    """
    needed = _MODE_FEATURE.get(settings.mode)
    return "immediate" if needed and needed not in features else settings.mode
