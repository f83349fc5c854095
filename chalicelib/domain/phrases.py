"""The built-in phrase library and the choice of a review text for one trade.

The library is data (``chalicelib/data/phrases.json``): phrases grouped by product type. A seller picks types
and keeps their own lines; the texts a trade may get are the seller's lines followed by the picked types'
phrases. A buyer never gets the same text twice in a row from one shop: when the choice lands on the text the
buyer got last time, the next one is taken instead.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from chalicelib.domain.templates import TemplateStrategy, choose_template

PhraseType = Literal["clothing", "food", "beauty", "digital", "home", "baby", "books", "general"]
PHRASE_TYPES: tuple[str, ...] = PhraseType.__args__


class LibraryInvalid(ValueError):
    """The phrase library document does not have the expected shape."""


@dataclass(frozen=True)
class PhraseGroup:
    """The phrases of one product type and its names in the seller's languages."""

    key: str
    names: Mapping[str, str]
    phrases: tuple[str, ...]

    def name(self, lang: str) -> str:
        """The type's name in ``lang`` (Chinese when that language has none)."""
        return self.names.get(lang) or self.names["zh_CN"]


@dataclass(frozen=True)
class PhraseLibrary:
    """Every built-in phrase, by product type."""

    groups: Mapping[str, PhraseGroup]

    def phrases(self, types: Sequence[str]) -> tuple[str, ...]:
        """The phrases of ``types`` in library order, each once."""
        seen: dict[str, None] = {}
        for key in types:
            for text in self.groups[key].phrases if key in self.groups else ():
                seen.setdefault(text, None)
        return tuple(seen)


def parse_library(document: Mapping) -> PhraseLibrary:
    """The library from its JSON document (``{"types": {key: {"names": {...}, "phrases": [...]}}}``)."""
    types = document.get("types") if isinstance(document, Mapping) else None
    if not isinstance(types, Mapping):
        raise LibraryInvalid("the document has no 'types' object")
    groups = {}
    for key, body in types.items():
        if key not in PHRASE_TYPES:
            raise LibraryInvalid(f"unknown product type {key!r}")
        phrases = tuple(body.get("phrases") or ())
        names = dict(body.get("names") or {})
        if not phrases or not all(isinstance(p, str) and p.strip() for p in phrases) or "zh_CN" not in names:
            raise LibraryInvalid(f"type {key!r} needs phrases and a zh_CN name")
        groups[key] = PhraseGroup(key, names, phrases)
    return PhraseLibrary(groups)


def text_key(text: str) -> str:
    """A short stable key of a text, to remember which one a buyer got without storing it again."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()


def review_pool(own: Sequence[str], types: Sequence[str], library: PhraseLibrary) -> tuple[str, ...]:
    """The texts a trade may get: the seller's own lines, then the picked types' phrases (each text once)."""
    return tuple(dict.fromkeys((*own, *library.phrases(types))))


def choose_text(
    pool: Sequence[str], strategy: TemplateStrategy, tid: str, rotation: int, *, avoid: str | None = None
) -> int:
    """Index of the text for trade ``tid``: the strategy's choice, or the next one when that is the text the
    buyer got last time (``avoid`` is that text's ``text_key``)."""
    index = choose_template(pool, strategy, tid, rotation)
    if avoid is not None and len(pool) > 1 and text_key(pool[index]) == avoid:
        index = (index + 1) % len(pool)
    return index
