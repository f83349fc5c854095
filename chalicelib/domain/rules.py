"""The versioned marketplace rules document.

Everything the marketplace can change overnight (rating window, content limits, banned words, allowed
results, caps, plans, billing grace) lives here as data: the shipped default is merged with an optional
override kept in the Control table and validated before any of it is used.
"""

from __future__ import annotations

import re
import re._constants as sre  # the parser's node names; stable since 3.11, used only to inspect banned patterns
import re._parser as sre_parse
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from chalicelib.domain.extortion import ExtortionPolicy
from chalicelib.domain.plans import Plan

RatingResult = Literal["good", "neutral", "bad"]
DAY_SECONDS = 86_400


class RulesInvalid(ValueError):
    """The merged rules document does not validate; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class RetryPolicy(_Frozen):
    """Backoff for transient marketplace errors; ``max_attempts`` counts every try, the first included."""

    max_attempts: int = Field(default=6, ge=1, le=50)
    backoff_base_seconds: float = Field(default=60.0, gt=0, le=DAY_SECONDS)
    backoff_max_seconds: float = Field(default=3600.0, gt=0, le=DAY_SECONDS)

    @model_validator(mode="after")
    def _max_not_below_base(self) -> RetryPolicy:
        if self.backoff_max_seconds < self.backoff_base_seconds:
            raise ValueError("backoff_max_seconds must be >= backoff_base_seconds")
        return self


class BreakerPolicy(_Frozen):
    """Pause a seller when at least ``failure_rate_pause`` of its writes in the current market hour failed.

    The rate is judged only once ``min_sample`` writes were attempted in that hour (the seller's hour counter,
    which is also the hourly cap's: the breaker's window is the market hour).
    """

    failure_rate_pause: float = Field(default=0.5, gt=0, le=1)
    min_sample: int = Field(default=10, ge=1, le=100_000)


class BillingPolicy(_Frozen):
    """Data is kept ``grace_days`` after the last paid day; reminders go out ``reminder_days`` before it."""

    grace_days: int = Field(default=30, ge=0, le=3650)
    reminder_days: tuple[int, ...] = Field(default=(7, 3, 1), max_length=10)

    @field_validator("reminder_days")
    @classmethod
    def _positive_descending(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(not 1 <= day <= 90 for day in value):
            raise ValueError("reminder days must be between 1 and 90")
        return tuple(sorted(set(value), reverse=True))


class Rules(_Frozen):
    """One validated version of the marketplace rules."""

    version: str = Field(min_length=1, max_length=64)
    # traderates.get reads only the last 180 days: no window of ours can be longer.
    rating_window_days: int = Field(default=15, ge=1, le=180)
    # The platform takes at most 500 characters; a shorter limit is ours to choose, a longer one it would refuse.
    content_max_length: int = Field(default=500, ge=1, le=500)
    explain_max_length: int = Field(default=500, ge=1, le=500)
    explain_window_days: int = Field(default=30, ge=1, le=180)
    # taobao.trade.memo.update: the memo in UTF-8 bytes (the platform takes at most 1000).
    memo_max_bytes: int = Field(default=1000, ge=1, le=1000)
    banned_words: tuple[Annotated[str, Field(max_length=100)], ...] = Field(default=(), max_length=2000)
    banned_patterns: tuple[Annotated[str, Field(max_length=500)], ...] = Field(default=(), max_length=200)
    allowed_results: tuple[RatingResult, ...] = ("good",)
    max_reviews_per_seller_per_hour: int = Field(default=600, ge=1, le=1_000_000)
    fallback_margin_hours: int = Field(default=12, ge=1)
    breaker: BreakerPolicy = BreakerPolicy()
    retry: RetryPolicy = RetryPolicy()
    claim_timeout_seconds: int = Field(default=300, ge=30, le=DAY_SECONDS)
    # Reviews per second the workers can post (WorkerMaxConcurrency × a container's rate, or the marketplace's
    # write quota if lower). A sweep queues at most a minute of it: a backlog waits in the due index, which
    # costs nothing, instead of being queued again in full every minute.
    review_capacity_per_second: float = Field(default=2300, ge=0.01, le=1_000_000)
    # Threads the sweep sends from at once (one sender waits a round trip per ten jobs).
    sweep_senders: int = Field(default=8, ge=1, le=32)
    plans: dict[str, Plan] = Field(default_factory=dict, max_length=100)
    billing: BillingPolicy = BillingPolicy()
    extortion: ExtortionPolicy = ExtortionPolicy()

    _compiled_patterns: tuple[re.Pattern[str], ...] = PrivateAttr(default=())

    @field_validator("banned_words")
    @classmethod
    def _no_blank_words(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        # A blank banned word would match every text and block all posting.
        words = tuple(word.strip() for word in value)
        if any(not word for word in words):
            raise ValueError("banned words must not be blank")
        return words

    @field_validator("banned_patterns")
    @classmethod
    def _patterns_compile(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in value:
            try:
                compiled = re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"banned pattern {pattern!r} does not compile: {exc}") from None
            if compiled.search(""):
                raise ValueError(f"banned pattern {pattern!r} matches the empty text")
            if _may_backtrack_exponentially(pattern):
                raise ValueError(
                    f"banned pattern {pattern!r} repeats a group that itself repeats or alternates; "
                    "such a pattern can take exponential time (write it with a character class or ++)"
                )
        return value

    @model_validator(mode="after")
    def _margin_inside_window(self) -> Rules:
        if self.fallback_margin_hours >= self.rating_window_days * 24:
            raise ValueError("fallback_margin_hours must be shorter than the rating window")
        return self

    def model_post_init(self, context: Any, /) -> None:
        self._compiled_patterns = tuple(re.compile(pattern) for pattern in self.banned_patterns)

    @property
    def compiled_patterns(self) -> tuple[re.Pattern[str], ...]:
        """The banned patterns, compiled once when the document was validated."""
        return self._compiled_patterns


_REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT)


def _may_backtrack_exponentially(pattern: str) -> bool:
    """True when a repetition contains another repetition or an alternation (``(a+)+``, ``(a|ab)*``).

    Those are the shapes whose failing match backtracks exponentially; a possessive repetition (``a++``) never
    backtracks. Together with lint's bound on the text it examines, this bounds the work of every pattern.
    """

    def walk(items, inside_repeat: bool) -> bool:
        for op, arg in items:
            if op in _REPEATS:
                _, high, body = arg
                repeats = high is sre.MAXREPEAT or high != arg[0]  # a variable count, not a{2}
                if inside_repeat and repeats:
                    return True
                if walk(body, inside_repeat or repeats):
                    return True
            elif op is sre.BRANCH:
                if inside_repeat:
                    return True
                if any(walk(branch, inside_repeat) for branch in arg[1]):
                    return True
            elif op is sre.SUBPATTERN:
                if walk(arg[3], inside_repeat):
                    return True
            elif op in (sre.ASSERT, sre.ASSERT_NOT):
                if walk(arg[1], inside_repeat):
                    return True
            elif op is sre.ATOMIC_GROUP or op is sre.POSSESSIVE_REPEAT:
                continue  # atomic: whatever it matched is never tried again
        return False

    return walk(sre_parse.parse(pattern), False)


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``override`` over ``base``: objects merge key by key, anything else is replaced.

    A ``None`` value in the override removes the key, so an override can withdraw a plan or return a
    setting to its built-in default.
    """
    merged = dict(base)
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


# Keys an earlier rules document had and this one no longer reads: an override still carrying them stays valid (the
# key is dropped) instead of failing whole, so retiring a rule never silently reverts every other rule to default.
RETIRED_KEYS: dict[tuple[str, ...], str] = {
    ("breaker", "window_minutes"): "the breaker's window is the market hour (its hour counter)",
}


def retired_keys(override: Mapping[str, Any] | None) -> list[str]:
    """The retired keys ``override`` still sets, dotted (for the operator's warning)."""
    found = []
    for path in RETIRED_KEYS:
        node: Any = override or {}
        for part in path:
            node = node.get(part) if isinstance(node, Mapping) else None
        if node is not None:
            found.append(".".join(path))
    return found


def _without(document: Mapping[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    """A copy of ``document`` without the key at ``path`` (the input, possibly a caller's, is left alone)."""
    head, *rest = path
    copy = dict(document)
    if not rest:
        copy.pop(head, None)
    elif isinstance(copy.get(head), Mapping):
        copy[head] = _without(copy[head], tuple(rest))
    return copy


def _without_retired(document: Mapping[str, Any]) -> dict[str, Any]:
    for path in RETIRED_KEYS:
        document = _without(document, path)
    return dict(document)


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "rules"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def parse_rules(default: Mapping[str, Any], override: Mapping[str, Any] | None = None) -> Rules:
    """Deep-merge ``override`` over the shipped ``default`` and validate; raise ``RulesInvalid``.

    A non-empty override must name its own ``version``: every audit record quotes the rules version,
    and a changed document under the shipped version number would make those records lie. Retired keys
    (``RETIRED_KEYS``) are dropped, not refused.
    """
    if not isinstance(default, Mapping):
        raise RulesInvalid("default rules must be an object")
    if override is not None and not isinstance(override, Mapping):
        raise RulesInvalid("rules override must be an object")
    if override and not override.get("version"):
        raise RulesInvalid("rules override must set its own version")
    merged = _without_retired(deep_merge(default, override or {}))
    try:
        return Rules.model_validate(merged)
    except ValidationError as exc:
        raise RulesInvalid(_describe(exc)) from None


def rules_diff(old: Rules, new: Rules) -> list[tuple[str, Any, Any]]:
    """What changes from ``old`` to ``new``: ``(dotted key, old value, new value)`` for every leaf that differs
    (lists compare whole), in key order; a value absent on one side is None."""
    changes: list[tuple[str, Any, Any]] = []

    def walk(before: Any, after: Any, path: str) -> None:
        if isinstance(before, Mapping) and isinstance(after, Mapping):
            for key in sorted(set(before) | set(after)):
                walk(before.get(key), after.get(key), f"{path}.{key}" if path else str(key))
        elif before != after:
            changes.append((path, before, after))

    walk(old.model_dump(mode="json"), new.model_dump(mode="json"), "")
    return changes
