"""Triage of a buyer's neutral/bad rating text: the complaint category, how sure, and a positive/negative reading.

The model is data (``chalicelib/data/triage_model.json``, replaceable by a Control item): two linear classifiers
over character n-gram presence (sentiment: a logistic regression on naive-Bayes-scaled n-grams; category: a softmax
regression that also sees which categories' keyword patterns the text matches), trained offline by
``tools/train_triage.py``. Classifying a text is a few hundred dictionary lookups and a few regular
expressions, so it takes well under a millisecond, inside the function, with no network.
The categories, their names and their default reply templates are data too (``triage_categories.json``).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MODEL_FORMAT = "haoping-triage-nb/1"
BAD_FAITH = "bad_faith"
OTHER = "other"
# Texts are cut here before classification: a rating's text is at most 500 characters on the marketplace, and a
# longer input must not cost more.
MAX_TEXT_CHARS = 1000

# A model document may list keyword patterns per category; each bounded so a replaced model cannot make a rating
# slow to read.
MAX_PATTERNS = 200
MAX_PATTERN_CHARS = 300
KEYWORD_PREFIX = "#kw:"

_SPACE = re.compile(r"\s+")
_DIGITS = re.compile(r"[0-9]+")


class TriageModelInvalid(ValueError):
    """A model or category document that cannot be used; the message says what is wrong."""


def normalise(text: str) -> str:
    """The form n-grams are taken from: NFKC, case-folded, no whitespace, every digit run as ``0``."""
    folded = unicodedata.normalize("NFKC", text[:MAX_TEXT_CHARS]).casefold()
    return _DIGITS.sub("0", _SPACE.sub("", folded))


def ngrams(text: str, orders: Sequence[int]) -> Counter[str]:
    """Character n-grams of the normalised ``text`` for each order in ``orders``, with their counts."""
    norm = normalise(text)
    grams: Counter[str] = Counter()
    for n in orders:
        grams.update(norm[i : i + n] for i in range(len(norm) - n + 1))
    return grams


@dataclass(frozen=True)
class LinearClassifier:
    """Per label a bias, per n-gram a weight per label; the softmax of the sums is the posterior.

    A naive Bayes model is the case where the biases are log priors, the weights log likelihoods and each
    n-gram counts as often as it occurs (``presence`` false); n-grams it does not list (pruned for size, or
    never seen) count with the ``unknown`` weights. A softmax regression counts each n-gram once and gives
    unlisted ones no weight.
    """

    labels: tuple[str, ...]
    bias: tuple[float, ...]
    unknown: tuple[float, ...]
    grams: Mapping[str, tuple[float, ...]]
    presence: bool = False

    def probabilities(self, features: Mapping[str, int]) -> dict[str, float]:
        """The posterior probability of each label for these n-gram counts."""
        scores = list(self.bias)
        for gram, count in features.items():
            weights = self.grams.get(gram, self.unknown)
            times = 1 if self.presence else count
            for i, weight in enumerate(weights):
                scores[i] += times * weight
        top = max(scores)
        exps = [math.exp(s - top) for s in scores]
        total = sum(exps)
        return {label: e / total for label, e in zip(self.labels, exps, strict=True)}

    @classmethod
    def from_document(cls, doc: Mapping[str, Any], name: str) -> LinearClassifier:
        """Parse one classifier of the model document (weights stored as integers over ``scale``)."""
        try:
            labels = tuple(str(label) for label in doc["labels"])
            scale = float(doc["scale"])
            width = len(labels)

            def row(values: Sequence[Any]) -> tuple[float, ...]:
                if len(values) != width:
                    raise TriageModelInvalid(f"{name}: every weight row needs {width} values")
                return tuple(float(v) / scale for v in values)

            grams = {str(gram): row(values) for gram, values in doc["grams"].items()}
            unknown = row(doc["unknown"]) if "unknown" in doc else (0.0,) * width
            model = cls(labels, row(doc["bias"]), unknown, grams, presence=doc.get("features") == "presence")
        except TriageModelInvalid:
            raise
        except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
            raise TriageModelInvalid(f"{name}: {type(exc).__name__}") from None
        if width < 2 or len(set(labels)) != width or scale <= 0:
            raise TriageModelInvalid(f"{name}: needs two or more distinct labels and a positive scale")
        return model


def _keywords(doc: Any) -> tuple[tuple[str, re.Pattern[str]], ...]:
    """Parse the optional ``keywords`` section: category → regular expressions (each a feature when it matches)."""
    if doc is None:
        return ()
    if not isinstance(doc, Mapping):
        raise TriageModelInvalid("keywords must map a category to a list of patterns")
    parsed = []
    for name, patterns in doc.items():
        if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
            raise TriageModelInvalid(f"keywords: {name} needs a list of patterns")
        for pattern in patterns:
            if len(pattern) > MAX_PATTERN_CHARS:
                raise TriageModelInvalid(f"keywords: a pattern of {name} is longer than {MAX_PATTERN_CHARS}")
            try:
                parsed.append((str(name), re.compile(pattern)))
            except re.error:
                raise TriageModelInvalid(f"keywords: a pattern of {name} does not compile") from None
    if len(parsed) > MAX_PATTERNS:
        raise TriageModelInvalid(f"keywords: more than {MAX_PATTERNS} patterns")
    return tuple(parsed)


@dataclass(frozen=True)
class TriageModel:
    """The sentiment and category classifiers, the n-gram orders they were trained on, and the keyword patterns
    whose matches are features too (``#kw:<category>``, present when any pattern of that category matches)."""

    version: str
    orders: tuple[int, ...]
    sentiment: LinearClassifier
    category: LinearClassifier
    keywords: tuple[tuple[str, re.Pattern[str]], ...] = ()

    def features(self, text: str) -> Counter[str]:
        """The n-grams of ``text`` and the keyword features it matches."""
        found = ngrams(text, self.orders)
        if found:
            cut = text[:MAX_TEXT_CHARS]
            for name, pattern in self.keywords:
                if pattern.search(cut):
                    found[KEYWORD_PREFIX + name] = 1
        return found

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> TriageModel:
        """Parse and check a model document; raise ``TriageModelInvalid``."""
        if not isinstance(doc, Mapping) or doc.get("format") != MODEL_FORMAT:
            raise TriageModelInvalid(f"not a {MODEL_FORMAT} document")
        orders = tuple(int(n) for n in doc.get("orders") or ())
        if not orders or any(n < 1 or n > 4 for n in orders):
            raise TriageModelInvalid("orders must be n-gram lengths between 1 and 4")
        sentiment = LinearClassifier.from_document(doc.get("sentiment") or {}, "sentiment")
        if set(sentiment.labels) != {"negative", "positive"}:
            raise TriageModelInvalid("sentiment labels must be negative and positive")
        category = LinearClassifier.from_document(doc.get("category") or {}, "category")
        return cls(str(doc.get("version", "")), orders, sentiment, category, _keywords(doc.get("keywords")))


@dataclass(frozen=True)
class Category:
    """A complaint category: its key, names per language, default reply templates, and whether it may be
    answered automatically (bad faith never is: it is reported, not apologised for)."""

    key: str
    names: Mapping[str, str]
    templates: tuple[str, ...]
    auto_explain: bool

    def name(self, lang: str) -> str:
        """The category's name in ``lang`` (falling back to Chinese)."""
        return self.names.get(lang) or self.names.get("zh-CN") or self.key


@dataclass(frozen=True)
class Categories:
    """The category list in display order, and the confidence below which nothing is explained automatically."""

    version: str
    items: tuple[Category, ...]
    auto_min_confidence: float

    def get(self, key: str) -> Category:
        """The category ``key``, or ``other`` when the list does not have it."""
        for item in self.items:
            if item.key == key:
                return item
        return self.by_key()[OTHER]

    def by_key(self) -> dict[str, Category]:
        """Categories by key."""
        return {item.key: item for item in self.items}

    def keys(self) -> tuple[str, ...]:
        """Category keys in display order."""
        return tuple(item.key for item in self.items)

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> Categories:
        """Parse and check a categories document; raise ``TriageModelInvalid``."""
        try:
            items = tuple(
                Category(
                    key=str(item["key"]),
                    names={str(k): str(v) for k, v in item["names"].items()},
                    templates=tuple(str(t) for t in item.get("templates", ())),
                    auto_explain=bool(item.get("auto_explain", True)) and item["key"] != BAD_FAITH,
                )
                for item in doc["categories"]
            )
            threshold = float(doc.get("auto_min_confidence", 0.6))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise TriageModelInvalid(f"categories: {type(exc).__name__}") from None
        keys = [item.key for item in items]
        if len(set(keys)) != len(keys) or OTHER not in keys or BAD_FAITH not in keys:
            raise TriageModelInvalid("categories need unique keys, including 'other' and 'bad_faith'")
        if not 0 <= threshold <= 1:
            raise TriageModelInvalid("auto_min_confidence must be between 0 and 1")
        return cls(str(doc.get("version", "")), items, threshold)


@dataclass(frozen=True)
class Triage:
    """What a rating's text complains about (``category`` with ``confidence``) and how it reads."""

    category: str
    confidence: float
    sentiment: str  # "positive" | "negative"
    positive: float  # probability the text reads positive
    bad_faith: float  # probability of the bad-faith category, whatever the top category is


def classify(model: TriageModel, categories: Categories, text: str) -> Triage:
    """Triage ``text``; an empty text is ``other`` with no confidence and a negative reading.

    A category the model knows but the category list does not (the lists are replaced separately) is
    reported as ``other``.
    """
    features = model.features(text)
    if not features:
        return Triage(OTHER, 0.0, "negative", 0.0, 0.0)
    sentiment = model.sentiment.probabilities(features)
    category = model.category.probabilities(features)
    best = max(category, key=category.__getitem__)
    known = best if best in categories.by_key() else OTHER
    positive = sentiment.get("positive", 0.0)
    return Triage(
        category=known,
        confidence=round(category[best], 4),
        sentiment="positive" if positive >= 0.5 else "negative",
        positive=round(positive, 4),
        bad_faith=round(category.get(BAD_FAITH, 0.0), 4),
    )


# A text that may be an extortion attempt is never answered automatically, even when another category leads.
BAD_FAITH_CAUTION = 0.2


def may_auto_explain(triage: Triage, categories: Categories, enabled: frozenset[str]) -> bool:
    """Whether a rating so triaged may be explained without the seller: the seller enabled its category, the
    category allows it, the model is sure enough, and nothing suggests bad faith."""
    category = categories.get(triage.category)
    return (
        category.key in enabled
        and category.auto_explain
        and triage.confidence >= categories.auto_min_confidence
        and triage.bad_faith < BAD_FAITH_CAUTION
    )


def suggested_templates(category: Category, seller_templates: Mapping[str, Sequence[str]]) -> tuple[str, ...]:
    """The reply templates for ``category``: the seller's own for it, else the category's defaults."""
    own = tuple(seller_templates.get(category.key) or ())
    return own or category.templates
