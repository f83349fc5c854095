"""The built-in phrase library as shipped (``chalicelib/data/phrases.json``), parsed once per container."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from chalicelib.domain.phrases import PhraseLibrary, parse_library

LIBRARY_FILE = Path(__file__).resolve().parent.parent / "data" / "phrases.json"


@cache
def library() -> PhraseLibrary:
    """The phrase library in force."""
    return parse_library(json.loads(LIBRARY_FILE.read_text(encoding="utf-8")))
