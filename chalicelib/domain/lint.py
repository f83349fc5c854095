"""Content lint: whether a text may be posted in the seller's name under the current rules.

Texts are compared after NFKC normalisation and case folding, and banned words also with whitespace
removed, so full-width letters or spaced-out characters do not slip past the list. Problem messages
never quote buyer data or digits found in the text.

The work is bounded by the rules, not by the text: only the first ``max_length + SCAN_SLACK`` characters are
examined (a longer text fails ``too_long`` whatever else it holds), so no text — 60,000 characters in a
settings request — can make a banned pattern run for seconds.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from chalicelib.domain.rules import Rules

LintKind = Literal["review", "explain"]

# A mainland mobile number, optionally with +86 and separators: 138 1234 5678, 138-1234-5678.
_PHONE = re.compile(r"(?<![0-9])(?:\+?86[ -]?)?1[3-9][0-9](?:[ -]?[0-9]){8}(?![0-9])")
# 15-19 digit runs (checked after case folding): resident IDs (15 or 18, the last may be X), bank cards.
_ID_NUMBER = re.compile(r"(?<![0-9])[0-9]{14,18}[0-9x](?![0-9])")
# A messaging account given after its app's name, as sellers write them: 微信 shop_888, V信：abc123, QQ 12345678,
# 扣扣12345. (vx/wx/weixin/wechat are banned patterns of the rules already, 微信号/QQ号 banned words.)
_ACCOUNT = re.compile(r"(?:微信|[v薇徽]信|(?<![a-z])qq|扣扣|企鹅)(?:号码?|id)?\s*[:是为]?\s*[a-z0-9_-]{5,20}")
_WHITESPACE = re.compile(r"\s+")
# How far past the longest postable text the checks still look: a banned word or number straddling the limit
# is still found, and a too-long text gets its other problems reported too.
SCAN_SLACK = 64
# Shorter identifiers would match ordinary words; nicks and open uids are longer than this.
_MIN_IDENTIFIER_LENGTH = 2


@dataclass(frozen=True)
class LintProblem:
    """One reason a text must not be posted: a stable ``code`` and a message for the seller."""

    code: str
    message: str


def _normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _compact(text: str) -> str:
    return _WHITESPACE.sub("", text)


def lint(
    content: str,
    rules: Rules,
    *,
    buyer_identifiers: Iterable[str] = (),
    result: str = "good",
    kind: LintKind = "review",
) -> list[LintProblem]:
    """Every problem with posting ``content``; an empty list means it may be posted.

    ``kind="review"`` checks a rating of ``result`` against ``content_max_length`` and the allowed
    results (only a good rating may have empty content); ``kind="explain"`` checks a reply to a buyer's
    rating against ``explain_max_length`` and never allows it empty. ``buyer_identifiers`` are the raw
    nick and open uid of the trade's buyer, which must not appear in the text.
    """
    problems: list[LintProblem] = []
    max_length = rules.explain_max_length if kind == "explain" else rules.content_max_length
    scanned = content[: max_length + SCAN_SLACK]
    normalised = _normalise(scanned)
    compact = _compact(normalised)

    if kind == "review" and result not in rules.allowed_results:
        problems.append(LintProblem("result_not_allowed", f"the marketplace does not allow {result!r} ratings"))
    if not content.strip() and (kind == "explain" or result != "good"):
        problems.append(LintProblem("empty_content", "content must not be empty"))

    if len(content) > max_length:
        problems.append(LintProblem("too_long", f"content is {len(content)} characters, at most {max_length}"))

    for word in rules.banned_words:
        if _compact(_normalise(word)) in compact:
            problems.append(LintProblem("banned_word", f"content contains the banned word {word!r}"))
    for pattern in rules.compiled_patterns:
        if pattern.search(scanned) or pattern.search(normalised):
            problems.append(LintProblem("banned_pattern", f"content matches the banned pattern {pattern.pattern!r}"))

    identifiers = {_normalise(ident.strip()) for ident in buyer_identifiers}
    if any(len(ident) >= _MIN_IDENTIFIER_LENGTH and ident in normalised for ident in identifiers):
        problems.append(LintProblem("buyer_identity", "content contains the buyer's nick or id"))
    # Where, counted from 1, never the digits: the seller finds the number, no message repeats it.
    if phone := _PHONE.search(normalised):
        at = phone.start() + 1
        message = f"content contains something like a phone number starting at character {at}"
        problems.append(LintProblem("phone_number", message))
    if account := _ACCOUNT.search(normalised):
        at = account.start() + 1
        message = f"content contains something like a WeChat or QQ account starting at character {at}"
        problems.append(LintProblem("contact_account", message))
    if number := _ID_NUMBER.search(normalised):
        at = number.start() + 1
        message = f"content contains something like an ID or card number starting at character {at}"
        problems.append(LintProblem("id_number", message))
    return problems
