"""Cells of an exported CSV that a spreadsheet shows as written and never runs.

Excel, WPS and LibreOffice read a cell starting with ``=``, ``+``, ``-`` or ``@`` as a formula (a tab or carriage
return in front is stripped first), so a buyer's review ``=HYPERLINK(…)`` would become a live link and
``=cmd|…`` a command. Every cell a person or the marketplace controls goes through ``text``, which puts an
apostrophe in front of such a cell, as OWASP advises. A long digit run is read as a number and cut to 15
significant digits (``3.9E+15``): order numbers go through ``identifier``, a string constant (``="…"``) that every
spreadsheet shows as the text it holds.
"""

from __future__ import annotations

import re

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")


def text(value: object) -> str:
    """``value`` as a cell that is never a formula (empty for None)."""
    shown = "" if value is None else str(value)
    return "'" + shown if shown.startswith(FORMULA_STARTS) else shown


def identifier(value: str | None) -> str:
    """An id (an order number) as text the spreadsheet keeps whole, every digit of it."""
    if not value:
        return ""
    # Only letters, digits, '-' and '_' go inside the constant: nothing there can end the string or start code.
    return f'="{value}"' if _PLAIN_ID.fullmatch(value) else text(value)


def percent(fraction: float | None) -> str:
    """A share (0.9648) as a seller reads it: ``96%``, which spreadsheets also read as a percentage."""
    return "" if fraction is None else f"{round(float(fraction) * 100)}%"
