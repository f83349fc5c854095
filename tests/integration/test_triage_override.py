"""Replacing the triage model without a deploy: the shipped model fits a Control item and is then in force, and a
model whose keyword patterns do not compile is refused before it is written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chalicelib.domain import triage
from chalicelib.store import triage_data

DATA = Path(__file__).resolve().parents[2] / "chalicelib" / "data"


def test_the_shipped_model_can_be_written_as_an_override_and_is_then_in_force(aws, clock):
    doc = json.loads((DATA / "triage_model.json").read_text(encoding="utf-8"))
    doc["version"] = "override-test"
    triage_data.write_override(triage_data.MODEL_KEY, doc, now=clock.now())
    model = triage_data.model()
    assert model.version == "override-test"
    assert triage.classify(model, triage_data.categories(), "快递太慢了，等了十天才收到").category == "logistics"


def test_a_model_with_a_broken_keyword_pattern_is_refused(aws, clock):
    doc = json.loads((DATA / "triage_model.json").read_text(encoding="utf-8"))
    doc["keywords"] = {"logistics": ["快递("]}
    with pytest.raises(triage.TriageModelInvalid):
        triage_data.write_override(triage_data.MODEL_KEY, doc, now=clock.now())
    assert triage_data.model().version == json.loads((DATA / "triage_model.json").read_text("utf-8"))["version"]
