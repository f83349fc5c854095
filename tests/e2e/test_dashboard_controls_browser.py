"""The seller's daily controls in a real headless Chromium against the local stack: pause and resume from the
page, order filters and a random delay tried on the last 30 days before saving, the phrase library picked, in
Chinese first and in English, at the workbench's 1366 px and a phone's 375 px. Skipped where no browser runs."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.domain.task_state import State
from chalicelib.store import sellers, tasks
from chalicelib.store.models import Task
from tests.e2e.test_dashboard_browser import (
    browser,  # noqa: F401 (fixture)
    by_css,
    click,
    log_in_through_oauth,
    open_dashboard,
    stack,  # noqa: F401 (fixture)
    wait_for,
)
from tests.helpers import set_seller
from tests.integration.test_seller_api import seed_task

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def _text(driver, selector: str) -> str:
    return by_css(driver, selector).text


def test_a_seller_pauses_filters_and_tries_settings_from_the_page(stack, browser):  # noqa: F811
    driver = browser
    seller_id = log_in_through_oauth(driver, stack)
    now = stack.clock.now()
    set_seller(seller_id, now, plan="FW_GOODS-1000000-2", paid_until=int((now + timedelta(days=20)).timestamp()))
    for i in range(3):
        seed_task(seller_id, f"42000000000000{i:02d}", now, state=State.POSTED, trade_end=now - timedelta(days=i + 1))
    seed_task(seller_id, "4200000000000099", now + timedelta(hours=2), state=State.SCHEDULED)
    for i in (0, 1, 2, 99):  # ¥5.00 trades, as the scheduler records a trade's amount
        Task(seller_id, f"42000000000000{i:02d}").update(actions=[Task.payment.set(500)])
    driver.set_window_size(1366, 1000)
    open_dashboard(driver, f"{stack.endpoints.app}/")

    # On/off: the state is on the page; pausing holds the waiting review, resuming lets it go.
    assert _text(driver, "#ar-pill") == "自动评价运行中"
    assert driver.find_elements("css selector", '#ar-upcoming li[data-tid="4200000000000099"]')
    click(driver, "#ar-toggle")
    wait_for(driver, lambda d: _text(d, "#ar-pill") == "自动评价已暂停", "the pause")
    assert "1 个评价在等待" in _text(driver, "#ar-detail")
    assert sellers.get(seller_id).review_paused_at is not None
    assert tasks.get(seller_id, "4200000000000099").state == "held"
    click(driver, "#ar-toggle")
    wait_for(driver, lambda d: _text(d, "#ar-pill") == "自动评价运行中", "the resume")
    assert tasks.get(seller_id, "4200000000000099").state == "scheduled"

    # Filters and a random delay: a bad range is refused field by field, the what-if shows the 30 days, saving keeps it.
    by_css(driver, "#c-min").send_keys("100")
    by_css(driver, "#c-max").send_keys("10")
    click(driver, "#c-whatif")
    wait_for(driver, lambda d: "最低金额不能高于最高金额" in _text(d, '.field-error[data-for="filters"]'), "the error")
    by_css(driver, "#c-max").clear()
    by_css(driver, "#c-dmax").clear()
    by_css(driver, "#c-dmax").send_keys("90")
    click(driver, '#c-phrases input[value="food"]')
    click(driver, "#c-whatif")
    wait_for(driver, lambda d: not by_css(d, "#c-result").get_attribute("hidden"), "the what-if")
    result = _text(driver, "#c-result")
    assert "共 4 笔订单" in result and "跳过 4 笔" in result and "订单金额低于设置：4" in result
    assert sellers.get(seller_id).settings.get("filters", {}).get("min_amount") is None  # tried, not saved
    click(driver, "#c-save")
    wait_for(driver, lambda d: _text(d, "#c-status") == "已保存。", "the save")
    saved = sellers.get(seller_id).settings
    assert saved["filters"]["min_amount"] == "100" and saved["random_delay"]["max_minutes"] == 90
    assert saved["phrase_types"] == ["food"]

    # English as a switch; and on a phone nothing runs off the screen.
    click(driver, "#lang-toggle")
    wait_for(driver, lambda d: _text(d, "#ar-pill") == "Auto-review is on", "English")
    # Each part reloads on its own after the switch: wait for the phrase types, not only the first part.
    wait_for(driver, lambda d: "Food (27)" in _text(d, "#c-phrases"), "the phrase types in English")
    driver.set_window_size(375, 800)
    wide = driver.execute_script(
        "return [...document.querySelectorAll('#auto-review, #controls')]"
        ".some(n => n.getBoundingClientRect().right > document.documentElement.clientWidth + 1)"
    )
    assert wide is False
