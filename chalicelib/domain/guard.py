"""The write guard's decision — may this marketplace write go ahead now? — and what follows from a refusal.

Checks run in a fixed order and the first that fails decides, so the most drastic reason wins: global
kill switch, seller kill switch, dry run, content lint, hourly cap, circuit breaker. ``consequence`` is the one
policy for what a refusal does to the write: a kill switch puts it back for ``KILL_RETRY``; a dry run is
recorded and skipped; a lint failure fails it; capped work waits for the next market hour, when the seller's
hour counter starts again; only an open breaker also pauses the seller (its kill switch, until an operator
resumes it), since a high failure rate says something is wrong, while reaching the cap says only that the shop
is busy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from chalicelib.domain.lint import LintProblem
from chalicelib.domain.market_time import MARKET_TZ
from chalicelib.domain.rules import Rules

Verdict = Literal["allow", "blocked", "dry_run", "lint_failed", "capped", "breaker_open"]
# While a kill switch is on, a refused write comes back this much later (no attempt is spent).
KILL_RETRY = timedelta(minutes=10)


@dataclass(frozen=True)
class GuardInput:
    """Everything the guard needs, gathered by the caller.

    ``dry_run`` is the seller's setting or the stage's, ``posts_last_hour`` counts this seller's marketplace
    writes (reviews and explanations) in the current market hour before this one, and
    ``recent_attempts``/``recent_failures`` count that hour's attempts and failed writes: the breaker's window
    is the market hour.
    """

    kill_global: bool
    kill_seller: bool
    dry_run: bool
    lint_problems: Sequence[LintProblem]
    posts_last_hour: int
    hourly_cap: int
    recent_attempts: int
    recent_failures: int


@dataclass(frozen=True)
class GuardDecision:
    """The verdict, a reason fit for the audit record, and whether to pause the seller's work."""

    verdict: Verdict
    reason: str
    pause_seller: bool = False

    @property
    def allowed(self) -> bool:
        """True only for ``allow``."""
        return self.verdict == "allow"


def breaker_tripped(recent_attempts: int, recent_failures: int, rules: Rules) -> bool:
    """True when enough recent writes were made and too large a share of them failed."""
    policy = rules.breaker
    if recent_attempts < policy.min_sample:  # min_sample >= 1, so the division below is safe
        return False
    return recent_failures / recent_attempts >= policy.failure_rate_pause


def decide(inp: GuardInput, rules: Rules) -> GuardDecision:
    """Decide one write; the first failing check, in the documented order, gives the verdict."""
    if inp.kill_global:
        return GuardDecision("blocked", "global kill switch is on")
    if inp.kill_seller:
        return GuardDecision("blocked", "seller kill switch is on")
    if inp.dry_run:
        return GuardDecision("dry_run", "dry run: the write is recorded, not sent")
    if inp.lint_problems:
        codes = ", ".join(sorted({problem.code for problem in inp.lint_problems}))
        return GuardDecision("lint_failed", f"content failed lint: {codes}")
    if inp.posts_last_hour >= inp.hourly_cap:
        return GuardDecision("capped", f"hourly cap of {inp.hourly_cap} writes reached")
    if breaker_tripped(inp.recent_attempts, inp.recent_failures, rules):
        return GuardDecision(
            "breaker_open",
            f"{inp.recent_failures} of the last {inp.recent_attempts} writes failed",
            pause_seller=True,
        )
    return GuardDecision("allow", "all checks passed")


@dataclass(frozen=True)
class Consequence:
    """What the write path does with a refused write: ``retry`` at ``due_at``, ``skip`` or ``fail`` it; whether
    the retry spends one of its attempts; whether the seller is paused as well."""

    action: Literal["retry", "skip", "fail"]
    due_at: datetime | None = None
    spend_attempt: bool = False
    pause_seller: bool = False


def next_hour(now: datetime) -> datetime:
    """The start of the next market hour (GMT+8), when the seller's hour counter starts from zero."""
    return now.astimezone(MARKET_TZ).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


def consequence(decision: GuardDecision, now: datetime) -> Consequence:
    """The one policy for a refusal (see the module's docstring); ``allow`` has none."""
    verdict = decision.verdict
    if verdict == "blocked":
        return Consequence("retry", now + KILL_RETRY)
    if verdict == "dry_run":
        return Consequence("skip")
    if verdict == "lint_failed":
        return Consequence("fail")
    if verdict in ("capped", "breaker_open"):
        return Consequence("retry", next_hour(now), pause_seller=decision.pause_seller)
    raise ValueError("an allowed write has no consequence")
