"""CSV cells Excel opens safely: no cell starts a formula, and ids stay text (never 1.23E+18)."""

from __future__ import annotations

import re

# A cell starting with one of these is read by Excel (and other spreadsheets) as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_ID = re.compile(r"^[0-9A-Za-z_]{1,64}$")


def excel_cell(value: object) -> str:
    """``value`` as a cell that can never run as a formula: a leading apostrophe neutralises one (OWASP)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def excel_text(identifier: str) -> str:
    """An id (digits) kept as text: a leading tab makes Excel read the cell as text, so no digit is lost.

    Only a plain id gets the tab (nothing after it can start a formula); anything else is an ordinary cell.
    """
    return "\t" + identifier if _ID.match(identifier or "") else excel_cell(identifier)
