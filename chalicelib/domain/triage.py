"""Triage of a buyer's neutral/bad rating text: the complaint category, how sure, and a positive/negative reading.

The model is data (``chalicelib/data/triage_model.json``, replaceable by a Control item): two linear classifiers
over character n-gram presence (sentiment: a logistic regression on naive-Bayes-scaled n-grams; category: a softmax
regression that also sees which categories' keyword patterns the text matches), trained offline by
``tools/train_triage.py``. Classifying a text is a few hundred dictionary lookups and a few regular
expressions, so it takes well under a millisecond, inside the function, with no network.
The categories, their names and their default reply templates are data too (``triage_categories.json``).

Three things keep the layer from being wrong in public: a rating is suspected of using the review as leverage
(``bad_faith``) only when a separate detector finds a demand tied to the rating, never from the category model;
a category is answered automatically only when the model document's measured precision for it is at least
``AUTO_MIN_PRECISION``; and below the model's ``unsure_below`` confidence the category is ``unsure`` (无法判断).
"""

from __future__ import annotations

import hashlib
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
UNSURE = "unsure"
# Categories the layer itself decides; neither is ever answered automatically.
NEVER_AUTO = frozenset({BAD_FAITH, UNSURE})
# A category may be answered without the seller only when the shipped measurement found it right this often...
AUTO_MIN_PRECISION = 0.95
# ...over at least this many held-out predictions (a precision of 3 out of 3 says little).
AUTO_MIN_SUPPORT = 20
MAX_EVIDENCE = 3
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
_SENTENCE_END = re.compile(r"[。!?\n]")
# Where one clause of a review ends and the next begins: punctuation, and the words that turn praise to complaint.
CLAUSES = re.compile(r"[,，.。!！?？;；~～、\n]+|但是|可是|不过|然而|就是|只是|但")
# Words that turn praise into a complaint: praise before one and none after reads mixed.
_CONTRAST = re.compile(r"但是|可是|不过|然而|就是|只是|可惜|但")
_MAX_BAD_FAITH_PARTS = 20
_MAX_BAD_FAITH_PATTERNS = 60
_MAX_BAD_FAITH_PART_CHARS = 1000


class TriageModelInvalid(ValueError):
    """A model or category document that cannot be used; the message says what is wrong."""


def normalise(text: str) -> str:
    """The form n-grams are taken from: NFKC, case-folded, no whitespace, every digit run as ``0``."""
    folded = unicodedata.normalize("NFKC", text[:MAX_TEXT_CHARS]).casefold()
    return _DIGITS.sub("0", _SPACE.sub("", folded))


def text_key(text: str) -> str:
    """A rating text's identity for corrections: the SHA-256 of its normalised form (hex), not the text."""
    return hashlib.sha256(normalise(text).encode("utf-8")).hexdigest()


_LONG_DIGITS = re.compile(r"[0-9０-９]{5,}")


def anonymised(text: str) -> str:
    """The text as shared across shops: cut like a classified text, long digit runs (phones, orders) masked."""
    return _LONG_DIGITS.sub("#", text[:MAX_TEXT_CHARS])


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
        if self.presence:
            # Summed column by column in C (``zip(*rows)``): a text has a hundred or so n-grams and up to fifteen
            # labels, and this is most of the time a rating takes to read.
            known = self.grams
            rows = [known[g] for g in features if g in known]
            if any(self.unknown):
                rows += [self.unknown for g in features if g not in known]
            scores = (
                [b + sum(column) for b, column in zip(self.bias, zip(*rows, strict=True), strict=True)]
                if rows
                else list(self.bias)
            )
        else:
            scores = list(self.bias)
            for gram, count in features.items():
                for i, weight in enumerate(self.grams.get(gram, self.unknown)):
                    scores[i] += count * weight
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


def _pattern(pattern: Any, name: str) -> re.Pattern[str] | None:
    """An optional one-pattern section of the model document (``praise``, ``denied``)."""
    if pattern is None:
        return None
    if not isinstance(pattern, str) or len(pattern) > MAX_PATTERN_CHARS:
        raise TriageModelInvalid(f"{name} must be one pattern of at most {MAX_PATTERN_CHARS} characters")
    try:
        return re.compile(pattern)
    except re.error:
        raise TriageModelInvalid(f"{name} does not compile") from None


def alternatives(patterns: Any, name: str) -> re.Pattern[str] | None:
    """An optional list-of-patterns section of the model document (``denied``), checked like every pattern of the
    document and matched as one alternation; raise ``TriageModelInvalid``."""
    if patterns is None:
        return None
    if not isinstance(patterns, list) or not patterns or len(patterns) > MAX_PATTERNS:
        raise TriageModelInvalid(f"{name} must be a list of 1 to {MAX_PATTERNS} patterns")
    for pattern in patterns:
        _pattern(pattern, name)
    return re.compile("|".join(f"(?:{pattern})" for pattern in patterns))


def without_denied(text: str, denied: re.Pattern[str] | None) -> str:
    """``text`` (cut) with what it denies or says is fine ("不掉色", "没有色差", "赠品都收到了") turned into a clause
    break: a complaint word the buyer denies is not evidence of that complaint ("一点都不掉色，就是线头多")."""
    cut = text[:MAX_TEXT_CHARS]
    return cut if denied is None else denied.sub("，", cut)


@dataclass(frozen=True)
class BadFaithRules:
    """Patterns that each tie a demand (money, a red packet, cashback, a refund, a gift) to the rating; a match
    is a suspicion, reported with the words that matched, unless an excuse (the seller's own offer as the buyer
    reports it) comes before it in the same sentence."""

    ties: tuple[re.Pattern[str], ...] = ()
    excuses: tuple[re.Pattern[str], ...] = ()

    def evidence(self, text: str) -> tuple[str, ...]:
        """The words of ``text`` that tie a demand to the rating (at most ``MAX_EVIDENCE``); empty: none."""
        if not self.ties:
            return ()
        cut = text[:MAX_TEXT_CHARS]
        # Matched on the NFKC form without whitespace; ``origin`` maps each of its characters back to ``cut``, so
        # the evidence quotes the buyer's own characters.
        flat, origin = [], []
        for i, char in enumerate(cut):
            for folded in unicodedata.normalize("NFKC", char):
                if not folded.isspace():
                    flat.append(folded)
                    origin.append(i)
        plain = "".join(flat)
        excused = [m for pattern in self.excuses for m in pattern.finditer(plain)]
        found: list[str] = []
        for pattern in self.ties:
            for match in pattern.finditer(plain):
                if match.end() == match.start() or any(
                    e.start() <= match.start() and not _SENTENCE_END.search(plain, e.start(), match.start())
                    for e in excused
                ):
                    continue
                words = cut[origin[match.start()] : origin[match.end() - 1] + 1]
                if words not in found:
                    found.append(words)
        return tuple(sorted(found, key=len)[:MAX_EVIDENCE])

    @classmethod
    def from_document(cls, doc: Any) -> BadFaithRules:
        """Parse the ``bad_faith`` section: ``parts`` (named sub-patterns), ``ties`` (patterns naming parts as
        ``{NAME}``) and ``excuses``; raise ``TriageModelInvalid``."""
        if doc is None:
            return cls()
        try:
            parts = {str(k): str(v) for k, v in (doc.get("parts") or {}).items()}
            ties, excuses = doc["ties"], doc.get("excuses") or []
        except (AttributeError, KeyError, TypeError) as exc:
            raise TriageModelInvalid(f"bad_faith: {type(exc).__name__}") from None
        if not all(isinstance(group, list) and all(isinstance(p, str) for p in group) for group in (ties, excuses)):
            raise TriageModelInvalid("bad_faith: ties and excuses are lists of patterns")
        if len(parts) > _MAX_BAD_FAITH_PARTS or len(ties) + len(excuses) > _MAX_BAD_FAITH_PATTERNS:
            raise TriageModelInvalid("bad_faith: too many patterns")
        if any(len(v) > _MAX_BAD_FAITH_PART_CHARS for v in parts.values()) or any(
            len(p) > MAX_PATTERN_CHARS for p in ties + excuses
        ):
            raise TriageModelInvalid("bad_faith: a pattern is too long")

        def compiled(pattern: str) -> re.Pattern[str]:
            for name, part in parts.items():
                pattern = pattern.replace("{" + name + "}", f"(?:{part})")
            try:
                return re.compile(pattern)
            except re.error:
                raise TriageModelInvalid("bad_faith: a pattern does not compile") from None

        return cls(tuple(compiled(t) for t in ties), tuple(compiled(e) for e in excuses))


@dataclass(frozen=True)
class Measured:
    """What the model's training measured on text it did not learn from: per category, the precision of its
    predictions at confidence ``at_confidence`` or more and how many there were; the confidence below which it
    says it cannot tell; the clause readings that make a text mixed."""

    precision: Mapping[str, float]
    support: Mapping[str, int]
    at_confidence: float = 0.6
    unsure_below: float = 0.0
    mixed_positive: float = 0.8
    mixed_negative: float = 0.2
    mixed_complaint: float = 0.0  # a clause without praise at or below this reads as the complaint of a mixed text

    def auto_eligible(self) -> frozenset[str]:
        """Categories measured right often enough to be answered without the seller."""
        return frozenset(
            key
            for key, value in self.precision.items()
            if key not in NEVER_AUTO and value >= AUTO_MIN_PRECISION and self.support.get(key, 0) >= AUTO_MIN_SUPPORT
        )

    @classmethod
    def from_document(cls, doc: Any) -> Measured:
        """Parse the ``measured`` section (absent: nothing measured, so nothing is automatic)."""
        if doc is None:
            return cls({}, {})
        try:
            found = cls(
                precision={str(k): float(v) for k, v in doc.get("precision", {}).items()},
                support={str(k): int(v) for k, v in doc.get("support", {}).items()},
                at_confidence=float(doc.get("at_confidence", 0.6)),
                unsure_below=float(doc.get("unsure_below", 0.0)),
                mixed_positive=float(doc.get("mixed_positive", 0.8)),
                mixed_negative=float(doc.get("mixed_negative", 0.2)),
                mixed_complaint=float(doc.get("mixed_complaint", 0.0)),
            )
        except (AttributeError, TypeError, ValueError) as exc:
            raise TriageModelInvalid(f"measured: {type(exc).__name__}") from None
        bounded = (
            found.at_confidence,
            found.unsure_below,
            found.mixed_positive,
            found.mixed_negative,
            found.mixed_complaint,
        )
        if not all(0 <= v <= 1 for v in (*bounded, *found.precision.values())):
            raise TriageModelInvalid("measured: precisions and thresholds are between 0 and 1")
        return found


@dataclass(frozen=True)
class TriageModel:
    """The sentiment and category classifiers, the n-gram orders they were trained on, and the keyword patterns
    whose matches are features too (``#kw:<category>``, present when any pattern of that category matches)."""

    version: str
    orders: tuple[int, ...]
    sentiment: LinearClassifier
    category: LinearClassifier
    keywords: tuple[tuple[str, re.Pattern[str]], ...] = ()
    bad_faith: BadFaithRules = BadFaithRules()
    measured: Measured = Measured({}, {})
    praise: re.Pattern[str] | None = None  # words of praise, for mixed texts (the document's ``praise``)
    denied: re.Pattern[str] | None = None  # complaint words denied or said to be fine (the document's ``denied``)

    def features(self, text: str) -> Counter[str]:
        """The n-grams of ``text`` and the keyword features it matches."""
        found = ngrams(text, self.orders)
        if found:
            cut = text[:MAX_TEXT_CHARS]
            for name, pattern in self.keywords:
                if pattern.search(cut):
                    found[KEYWORD_PREFIX + name] = 1
        return found

    def category_features(self, text: str, features: Counter[str] | None = None) -> Counter[str]:
        """What the category model reads: the features of ``text`` without the complaint words it denies
        (``features``, the whole text's, are reused when it denies none)."""
        kept = without_denied(text, self.denied)
        if features is not None and kept == text[:MAX_TEXT_CHARS]:
            return features
        return self.features(kept)

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
        return cls(
            str(doc.get("version", "")),
            orders,
            sentiment,
            category,
            _keywords(doc.get("keywords")),
            BadFaithRules.from_document(doc.get("bad_faith")),
            Measured.from_document(doc.get("measured")),
            _pattern(doc.get("praise"), "praise"),
            alternatives(doc.get("denied"), "denied"),
        )


@dataclass(frozen=True)
class Category:
    """A complaint category: its key, names per language, default reply templates, and whether it may be
    answered automatically (bad faith never is: it is reported, not apologised for). ``by_default`` says whether
    it is answered automatically for a seller who switched automatic replies on without choosing categories:
    a kind whose reply takes a stand in public (authenticity) is answered automatically only when chosen."""

    key: str
    names: Mapping[str, str]
    templates: tuple[str, ...]
    auto_explain: bool
    by_default: bool = True

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
                    auto_explain=bool(item.get("auto_explain", True)) and item["key"] not in NEVER_AUTO,
                    by_default=bool(item.get("auto_by_default", True)),
                )
                for item in doc["categories"]
            )
            threshold = float(doc.get("auto_min_confidence", 0.6))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise TriageModelInvalid(f"categories: {type(exc).__name__}") from None
        keys = [item.key for item in items]
        if len(set(keys)) != len(keys) or not {OTHER, BAD_FAITH, UNSURE} <= set(keys):
            raise TriageModelInvalid("categories need unique keys, including 'other', 'bad_faith' and 'unsure'")
        if not 0 <= threshold <= 1:
            raise TriageModelInvalid("auto_min_confidence must be between 0 and 1")
        return cls(str(doc.get("version", "")), items, threshold)


@dataclass(frozen=True)
class Triage:
    """What a rating's text complains about (``category`` with ``confidence``; ``unsure`` when the model cannot
    tell) and how it reads (``mixed`` when it praises and complains)."""

    category: str
    confidence: float
    sentiment: str  # "positive" | "negative" | "mixed"
    positive: float  # probability the whole text reads positive
    bad_faith: float  # 1.0 when a demand is tied to the rating (see ``evidence``), else 0.0
    evidence: tuple[str, ...] = ()  # the words that tied a demand to the rating


def reading(model: TriageModel, text: str, positive: float) -> str:
    """``mixed`` when the text praises and complains — one clause reads clearly positive and another clearly
    negative, or a clause with praise sits next to one without praise that reads as a complaint, or praise comes
    before a contrast word (但是, 就是, 可惜 …) and none after it — else the whole text's reading (``positive``)."""
    measured, cut = model.measured, text[:MAX_TEXT_CHARS]
    praise = model.praise
    turn = _CONTRAST.search(cut) if praise is not None else None
    if turn and praise.search(cut[: turn.start()]) and not praise.search(cut[turn.end() :]):
        return "mixed"
    clauses = [c for c in CLAUSES.split(cut) if len(c.strip()) >= 2]
    if len(clauses) >= 2:
        scores = [model.sentiment.probabilities(ngrams(c, model.orders)).get("positive", 0.0) for c in clauses]
        if max(scores) >= measured.mixed_positive and min(scores) <= measured.mixed_negative:
            return "mixed"
        if praise is not None:
            praised = [bool(praise.search(c)) for c in clauses]
            if any(praised) and any(
                not p and s <= measured.mixed_complaint for p, s in zip(praised, scores, strict=True)
            ):
                return "mixed"
    return "positive" if positive >= 0.5 else "negative"


def classify(model: TriageModel, categories: Categories, text: str) -> Triage:
    """Triage ``text``; an empty text is ``unsure`` with no confidence and a negative reading.

    A demand tied to the rating makes it ``bad_faith`` (with the words as evidence) whatever the category model
    says; otherwise the category model's best category other than bad faith, or ``unsure`` below the measured
    threshold. A category the model knows but the category list does not (the lists are replaced separately)
    is reported as ``other``.
    """
    features = model.features(text)
    if not features:
        return Triage(UNSURE, 0.0, "negative", 0.0, 0.0)
    positive = model.sentiment.probabilities(features).get("positive", 0.0)
    sentiment = reading(model, text, positive)
    evidence = model.bad_faith.evidence(text)
    if evidence:
        return Triage(BAD_FAITH, 1.0, sentiment, round(positive, 4), 1.0, evidence)
    read = model.category_features(text, features)
    category = {k: v for k, v in model.category.probabilities(read).items() if k != BAD_FAITH}
    total = sum(category.values()) or 1.0
    best = max(category, key=category.__getitem__)
    confidence = category[best] / total
    if confidence < model.measured.unsure_below:
        best = UNSURE
    known = best if best in categories.by_key() else OTHER
    return Triage(known, round(confidence, 4), sentiment, round(positive, 4), 0.0)


def may_auto_explain(triage: Triage, categories: Categories, model: TriageModel, enabled: frozenset[str]) -> bool:
    """Whether a rating so triaged may be explained without the seller: the seller enabled its category, the
    category allows it, its measured precision earned it, the model is as sure as when that was measured, and
    nothing suggests bad faith."""
    category = categories.get(triage.category)
    return (
        category.key == triage.category
        and category.key in enabled
        and category.auto_explain
        and category.key in model.measured.auto_eligible()
        and triage.confidence >= max(categories.auto_min_confidence, model.measured.at_confidence)
        and not triage.evidence
        and triage.bad_faith == 0
    )


def suggested_templates(category: Category, seller_templates: Mapping[str, Sequence[str]]) -> tuple[str, ...]:
    """The reply templates for ``category``: the seller's own for it, else the category's defaults."""
    own = tuple(seller_templates.get(category.key) or ())
    return own or category.templates
