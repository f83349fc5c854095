"""How bench figure 13 prices the trade tables' capacity and storage (``bench.cost``, ``bench.day``): pure
arithmetic on counted inputs, checked against hand-worked values."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.cost import (
    ON_DEMAND_WEEKS,
    PRICES,
    market_day_load,
    price_class,
    provisioned_factor,
    provisioned_utilization,
    unit_prices,
)
from bench.counting import attribute_size
from bench.day import ITEM_OVERHEAD_BYTES, retention_days, stored_bytes
from chalicelib.store.models import Task


def test_a_flat_load_uses_exactly_the_target_share_of_its_units():
    assert provisioned_utilization([1.0] * 24, 0.7) == pytest.approx(0.7)


def test_the_market_day_pays_for_an_hour_of_busy_units_after_the_evening():
    load = market_day_load()
    assert sum(load) == pytest.approx(1.0)
    busy, quiet = 0.85 / 14, 0.15 / 10
    # 14 busy hours and the hour after them at busy units, nine quiet hours at quiet units, all ÷ 0.7.
    assert provisioned_utilization(load, 0.7) == pytest.approx(0.7 / (15 * busy + 9 * quiet))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(min_value=0.001, max_value=1000.0), min_size=24, max_size=24))
def test_units_that_come_down_late_are_never_used_beyond_the_target(hourly):
    assert 0 < provisioned_utilization(hourly, 0.7) <= 0.7 + 1e-9


def test_a_year_of_provisioned_units_with_two_on_demand_weeks_is_priced_between_the_two():
    write = PRICES["dynamodb_wru"]
    full = provisioned_factor(unit_hour=PRICES["dynamodb_wcu_hour"], on_demand=write, utilization=1.0)
    # A write unit-hour of provisioned capacity serves 3,600 writes a second's worth: 0.289 of on-demand, used fully.
    assert full == pytest.approx(((52 - ON_DEMAND_WEEKS) * 0.00065 / 3600 / write + ON_DEMAND_WEEKS) / 52)
    half = provisioned_factor(unit_hour=PRICES["dynamodb_wcu_hour"], on_demand=write, utilization=0.5)
    assert full < half < 1.0


def test_each_table_is_priced_as_the_template_deploys_it():
    assert price_class("Tasks") == price_class("Tasks/due") == "provisioned"
    assert price_class("Audit") == "provisioned_ia"
    assert price_class("Sellers/by_shard") == "on_demand"
    assert price_class("Stats+Tasks") == "provisioned"
    assert price_class("Sellers+Tasks") == "on_demand"  # a batch over tables paid for differently: the dearer
    prices = unit_prices()
    assert prices["provisioned_ia"][0] == pytest.approx(prices["provisioned"][0] * 1.25)
    assert prices["provisioned"][0] < prices["on_demand"][0]
    assert unit_prices("on-demand")["provisioned"] == prices["on_demand"]


def test_a_stored_task_counts_its_index_entries_and_the_overhead_of_each():
    item = {
        "seller_id": {"S": "2200000001"},
        "tid": {"S": "123"},
        "state": {"S": "posted"},
        "trade_end": {"N": "1700000000"},
    }

    def size(*names: str) -> int:  # names and values, as DynamoDB sizes them
        return sum(len(n) + attribute_size(item[n]) for n in names)

    bare = size("seller_id", "tid", "state", "trade_end")
    # In one index (by_trade_end: the table's keys and trade_end, keys only), not in the sparse ones.
    entry = size("seller_id", "tid", "trade_end")
    assert stored_bytes(Task, item) == bare + ITEM_OVERHEAD_BYTES + entry + ITEM_OVERHEAD_BYTES


def test_counters_are_kept_per_seller_and_a_buyers_memory_per_trade():
    assert retention_days("Stats", {"bucket": {"S": "phrase#abc"}}) == (180, True)
    assert retention_days("Stats", {"bucket": {"S": "2026-11-11T09"}}) == (400, False)
    assert retention_days("Tasks", {}) == (180, True) and retention_days("Audit", {}) == (400, True)
