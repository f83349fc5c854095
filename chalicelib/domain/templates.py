"""Review templates: ``{variable}`` placeholders, validation, rendering and the choice of a template.

Only the variables in ``VARIABLES`` exist; ``{{`` and ``}}`` write literal braces. The syntax is parsed
here rather than by ``str.format`` so that a seller's text can never reach attributes or format specs. Positions in
error messages count characters from 1, as a seller counts them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from chalicelib.domain.market_time import market_date

VARIABLES = frozenset({"buyer_masked", "item_title", "shop_name", "trade_date"})

TemplateStrategy = Literal["rotate", "random"]
_NAME_SHOWN = 20  # how much of an unknown variable's name an error message repeats


class TemplateInvalid(ValueError):
    """A template that does not parse; ``errors`` lists every problem found."""

    def __init__(self, errors: Sequence[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = tuple(errors)


@dataclass(frozen=True)
class _Parsed:
    parts: tuple[tuple[bool, str], ...]  # (is_variable, literal text or variable name)
    errors: tuple[str, ...]


def _parse(text: str) -> _Parsed:
    parts: list[tuple[bool, str]] = []
    errors: list[str] = []
    literal: list[str] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char in "{}" and text[i + 1 : i + 2] == char:
            literal.append(char)
            i += 2
        elif char == "}":
            errors.append(f"unmatched '}}' at position {i + 1}")
            i += 1
        elif char == "{":
            close = text.find("}", i + 1)
            reopen = text.find("{", i + 1)
            if close == -1:
                errors.append(f"unclosed '{{' at position {i + 1}")
                break
            if reopen != -1 and reopen < close:
                errors.append(f"unclosed '{{' at position {i + 1}")
                i = reopen
                continue
            name = text[i + 1 : close]
            if name in VARIABLES:
                if literal:
                    parts.append((False, "".join(literal)))
                    literal = []
                parts.append((True, name))
            else:
                # The seller must see which name is wrong; it is their own text, cut short, in a JSON field.
                shown = name[:_NAME_SHOWN]
                errors.append(f"unknown variable {shown!r} at position {i + 1} (use one of {sorted(VARIABLES)})")
            i = close + 1
        else:
            literal.append(char)
            i += 1
    if literal:
        parts.append((False, "".join(literal)))
    return _Parsed(tuple(parts), tuple(errors))


def template_errors(text: str) -> list[str]:
    """Every problem with ``text`` as a template (unknown variables, unbalanced braces); empty if valid."""
    return list(_parse(text).errors)


def render(text: str, variables: Mapping[str, object]) -> str:
    """Fill the template's placeholders; raise ``TemplateInvalid`` if the template does not parse.

    A variable the caller could not fill renders as an empty string, so a posted review never shows a
    raw placeholder. Values are inserted verbatim: braces inside them are not interpreted.
    """
    parsed = _parse(text)
    if parsed.errors:
        raise TemplateInvalid(parsed.errors)
    out = []
    for is_variable, value in parsed.parts:
        if is_variable:
            filled = variables.get(value)
            out.append("" if filled is None else str(filled))
        else:
            out.append(value)
    return "".join(out)


def variables_for(*, buyer_masked: str, item_title: str, shop_name: str, trade_end: datetime) -> dict[str, str]:
    """The template variables of one trade; ``trade_date`` is the GMT+8 day the trade ended."""
    return {
        "buyer_masked": buyer_masked,
        "item_title": item_title,
        "shop_name": shop_name,
        "trade_date": market_date(trade_end).isoformat(),
    }


def choose_template(templates: Sequence[str], strategy: TemplateStrategy, tid: str, rotation_counter: int) -> int:
    """Index of the template to use for trade ``tid``.

    ``rotate`` takes the seller's rotation counter modulo the number of templates; ``random`` hashes the
    trade id, so a retried or redelivered task always picks the same text.
    """
    if not templates:
        raise ValueError("no templates to choose from")
    if strategy == "rotate":
        return rotation_counter % len(templates)
    if strategy == "random":
        digest = hashlib.sha256(tid.encode("utf-8")).digest()
        return int.from_bytes(digest[:8], "big") % len(templates)
    raise ValueError(f"unknown template strategy {strategy!r}")
