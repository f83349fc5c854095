"""The triage model and complaint categories in force: the shipped files, unless the Control table replaces them.

An operator replaces either without a deploy by writing a Control item (``triage_model``: the model document,
plain or as ``{"gzip_b64": ...}`` since an item holds at most 400 KB; ``triage_categories``: the categories
document). Every container picks a replacement up within ``CACHE_TTLS["triage"]`` seconds; one that does not
validate is refused when written and ignored (the shipped data stays in force) if it was written around us.
"""

from __future__ import annotations

import base64
import gzip
import json
from datetime import datetime
from functools import cache
from pathlib import Path

from chalicelib.container import container
from chalicelib.domain.triage import Categories, TriageModel, TriageModelInvalid
from chalicelib.store.models import Control
from chalicelib.telemetry import logger

DATA = Path(__file__).resolve().parent.parent / "data"
MODEL_KEY = "triage_model"
CATEGORIES_KEY = "triage_categories"


@cache
def _shipped(name: str) -> dict:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def _override(key: str) -> dict | None:
    try:
        value = Control.get(key).value
    except Control.DoesNotExist:
        return None
    if isinstance(value, dict) and "gzip_b64" in value:
        value = json.loads(gzip.decompress(base64.b64decode(value["gzip_b64"])))
    return value if isinstance(value, dict) else None


def _load(key: str, shipped: str, parse):
    def read():
        try:
            override = _override(key)
            parsed = parse(override) if override is not None else None
        except (TriageModelInvalid, ValueError, OSError) as exc:
            logger.warning("triage override ignored", extra={"key": key, "error": type(exc).__name__})
            parsed = None
        return parsed if parsed is not None else _parsed_shipped(shipped, parse)

    return container().cache("triage").get_or_load(key, read)


@cache
def _parsed_shipped(name: str, parse):
    return parse(_shipped(name))


def model() -> TriageModel:
    """The complaint model in force."""
    return _load(MODEL_KEY, "triage_model.json", TriageModel.from_document)


def categories() -> Categories:
    """The complaint categories in force (names, default replies, which may be answered automatically)."""
    return _load(CATEGORIES_KEY, "triage_categories.json", Categories.from_document)


def auto_categories() -> frozenset[str]:
    """The categories that may be answered automatically now: allowed by the categories in force and measured
    precise enough (``Measured.auto_eligible``) by the model in force."""
    eligible = model().measured.auto_eligible()
    return frozenset(c.key for c in categories().items if c.auto_explain and c.key in eligible)


def default_auto_categories() -> frozenset[str]:
    """The categories answered automatically for a seller who chose none: the automatic ones that are
    answered by default (``Category.by_default``)."""
    by_key = categories().by_key()
    return frozenset(key for key in auto_categories() if by_key[key].by_default)


def write_override(key: str, doc: dict, *, now: datetime) -> None:
    """Replace the model (``triage_model``) or the categories (``triage_categories``) after checking them."""
    if key == MODEL_KEY:
        TriageModel.from_document(doc)
        packed = base64.b64encode(gzip.compress(json.dumps(doc, ensure_ascii=False).encode("utf-8"))).decode()
        value: dict = {"gzip_b64": packed}
    elif key == CATEGORIES_KEY:
        Categories.from_document(doc)
        value = doc
    else:
        raise ValueError(f"not a triage item: {key}")
    Control(key, value=value, updated_at=int(now.timestamp())).save()
    container().cache("triage").clear()
