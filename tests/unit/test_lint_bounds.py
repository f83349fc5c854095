"""The content lint's work is bounded by the rules, never by the text: a property over the characters its
pattern checks are handed, a pathological text through the shipped rules, and the rules' refusal of patterns
that backtrack exponentially."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import chalicelib
from chalicelib.domain.lint import SCAN_SLACK, lint
from chalicelib.domain.rules import RulesInvalid, parse_rules
from chalicelib.domain.settings import TEMPLATE_MAX_CHARS, SettingsInvalid, validate_settings

DEFAULT = json.loads((Path(chalicelib.__file__).parent / "rules_default.json").read_text("utf-8"))
RULES = parse_rules(DEFAULT)
# The link pattern as it shipped before: on a run of 60,000 letters it took 49 s (each start re-scanned the run).
OLD_LINK = re.compile(r"(?i)[a-z0-9-]+\.(?:com|cn|net|top|cc)(?![a-z])")
LINK = next(p for p in RULES.compiled_patterns if "com|cn" in p.pattern)


@dataclass
class CountingPattern:
    """A compiled pattern that counts the characters it is asked to search."""

    inner: re.Pattern
    examined: list[int] = field(default_factory=list)

    @property
    def pattern(self) -> str:
        return self.inner.pattern

    def search(self, text: str):
        self.examined.append(len(text))
        return self.inner.search(text)


@dataclass
class CountingRules:
    """The shipped rules, with pattern searches counted (lint reads rules by attribute only)."""

    patterns: list[CountingPattern]

    def __getattr__(self, name):
        return getattr(RULES, name)

    @property
    def compiled_patterns(self):
        return self.patterns


@given(
    st.text(alphabet=st.characters(codec="ascii"), min_size=0, max_size=200).flatmap(
        lambda unit: st.integers(1, 500).map(lambda n: unit * n)
    ),
    st.sampled_from(["review", "explain"]),
)
def test_the_characters_lint_searches_do_not_grow_with_the_text(text, kind):
    rules = CountingRules([CountingPattern(p) for p in RULES.compiled_patterns])
    lint(text, rules, kind=kind, buyer_identifiers=("tb_buyer",))
    limit = (RULES.explain_max_length if kind == "explain" else RULES.content_max_length) + SCAN_SLACK
    searched = [n for p in rules.patterns for n in p.examined]
    assert searched and max(searched) <= limit  # ASCII does not grow under NFKC
    assert sum(searched) <= 2 * limit * len(rules.patterns)


def test_a_pathological_text_is_linted_at_once():
    # 200,000 letters without a dot: minutes under the old pattern, a bounded scan now.
    problems = lint("a" * 200_000, RULES)
    assert [p.code for p in problems] == ["too_long"]


@given(st.text(alphabet="ab-.comnet xyz测", max_size=40))
def test_the_link_pattern_finds_exactly_what_the_old_one_found(text):
    assert bool(LINK.search(text)) == bool(OLD_LINK.search(text))


@pytest.mark.parametrize("pattern", [r"(a+)+b", r"(?:x|xy)*z", r"(\d?)+0", r"(?:ab+)*c"])
def test_rules_refuse_a_pattern_that_backtracks_exponentially(pattern):
    with pytest.raises(RulesInvalid, match="exponential"):
        parse_rules(DEFAULT, {"version": "x", "banned_patterns": [pattern]})


@pytest.mark.parametrize("pattern", [r"a+b+", r"(?:ab)+", r"[a-z]++\.com", r"(?>a+)+", r"x{2}(?:ab){3}"])
def test_rules_accept_patterns_that_cannot_backtrack_exponentially(pattern):
    assert parse_rules(DEFAULT, {"version": "x", "banned_patterns": [pattern]})


def test_a_template_longer_than_the_limit_is_refused_by_field_without_being_linted():
    with pytest.raises(SettingsInvalid) as refused:
        validate_settings({"templates": ["a" * (TEMPLATE_MAX_CHARS + 1)]}, features=frozenset(), rules=RULES)
    assert "at most 1000 characters" in refused.value.fields["templates.0"]
