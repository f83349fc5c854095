"""The write guard's decision: may this marketplace write go ahead now?

Checks run in a fixed order and the first that fails decides, so the most drastic reason wins: global
kill switch, seller kill switch, dry run, content lint, hourly cap, circuit breaker.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from chalicelib.domain.lint import LintProblem
from chalicelib.domain.rules import Rules

Verdict = Literal["allow", "blocked", "dry_run", "lint_failed", "capped", "breaker_open"]


@dataclass(frozen=True)
class GuardInput:
    """Everything the guard needs, gathered by the caller.

    ``dry_run`` is the seller's setting or the stage's, ``posts_last_hour`` counts this seller's
    writes in the past hour, and ``recent_attempts``/``recent_failures`` count them over the breaker
    window of the rules.
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
