"""Exported cells: whatever a buyer, a seller or the marketplace wrote, a spreadsheet shows it and runs nothing."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain import spreadsheet_cells as cell


@given(st.text())
def test_no_text_cell_starts_a_formula(value):
    shown = cell.text(value)
    assert not shown.startswith(cell.FORMULA_STARTS)
    assert shown in (value, "'" + value)  # nothing is lost: an apostrophe is only ever put in front


def test_formula_starts_are_neutralised_and_plain_text_is_untouched():
    assert cell.text('=HYPERLINK("http://x","y")') == '\'=HYPERLINK("http://x","y")'
    assert cell.text("\t=1+1") == "'\t=1+1"
    assert cell.text("-5") == "'-5"
    assert cell.text("洗了一次就掉色") == "洗了一次就掉色"
    assert cell.text(None) == ""


@given(st.from_regex(r"[0-9]{15,19}", fullmatch=True))
def test_order_numbers_are_string_constants_keeping_every_digit(tid):
    assert cell.identifier(tid) == f'="{tid}"'


def test_an_identifier_that_could_end_the_constant_is_plain_text():
    assert cell.identifier('1"+cmd') == '1"+cmd'
    assert cell.identifier('=1"') == "'=1\""


def test_shares_are_percentages():
    assert cell.percent(0.9648) == "96%"
    assert cell.percent(None) == ""
