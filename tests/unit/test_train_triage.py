"""The training tool's measurement and its merge of sellers' corrections (pure parts; a full run is `make bench`)."""

from __future__ import annotations

import json

from tools import train_triage


def test_per_category_precision_counts_only_confident_held_out_predictions():
    labels = ["logistics"] * 4 + ["price"] * 2
    predicted = [("logistics", 0.9)] * 3 + [("price", 0.95), ("price", 0.9), ("logistics", 0.5)]
    found = train_triage.measure(labels, predicted, at=0.8)
    assert found["precision"] == {"logistics": 1.0, "price": 0.5}
    assert found["support"] == {"logistics": 3, "price": 2}
    assert found["at_confidence"] == 0.8


def test_unsure_below_is_where_guesses_stop_being_wrong_more_often_than_right():
    labels = ["a", "b", "a", "b", "a", "a", "a"]
    predicted = [("b", 0.32), ("a", 0.35), ("b", 0.42), ("a", 0.45), ("a", 0.55), ("a", 0.65), ("a", 0.9)]
    assert train_triage.measure(labels, predicted)["unsure_below"] == 0.5


def test_corrections_keep_the_last_word_on_a_text_and_drop_unknown_categories(tmp_path):
    path = tmp_path / "corrections.jsonl"
    rows = [  # newest first, as the export lists them
        {"text": "颜色 不对", "to": "color_diff"},
        {"text": "颜色不对", "to": "quality"},
        {"text": "太慢", "to": "weather"},
        {"text": "", "to": "price"},
    ]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    assert train_triage.corrections(path, frozenset({"color_diff", "quality", "price"})) == [
        ("颜色 不对", "color_diff")
    ]
