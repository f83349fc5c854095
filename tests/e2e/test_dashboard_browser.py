"""The dashboard in a real headless Chromium (Selenium + Debian's chromium-driver) against the local stack.

The seller logs in through the sandbox marketplace's OAuth flow (the app's ``/oauth/start`` and
``/oauth/callback``, session in the HttpOnly cookie), changes a setting, previews a template, retries a
failed review, and adds and removes a blacklist entry; a second visit uses the one-time ``/login?code=`` link that
``make run`` prints, which never replaces a signed-in shop without asking. Skipped, saying why, where no browser
can run. Leaves ``build/dashboard.png``.
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import urllib3

from chalicelib.domain.market_time import market_date
from chalicelib.domain.task_state import State
from chalicelib.services.sessions import seller_sessions
from chalicelib.store import blacklist, sellers, stats, tasks
from tests.helpers import set_seller
from tests.integration.test_seller_api import seed_task

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

SCREENSHOT = Path("build/dashboard.png")
SHOP = "browser_shop"
WAIT_SECONDS = 20
WECOM_KEY = "693a91f6-7aaa-4bc4-97a0-0ec2bbbb5aaa"


def _browser_or_reason() -> tuple[str, str] | str:
    """(chromium, chromedriver) paths, or why there is no browser to drive."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -r requirements-dev.txt)"
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not chromium or not driver:
        return "no Chromium or chromedriver on PATH (apt-get install chromium chromium-driver)"
    return chromium, driver


@pytest.fixture
def browser():
    """A headless Chromium under Selenium, or a skip that says why there is none."""
    found = _browser_or_reason()
    if isinstance(found, str):
        pytest.skip(f"no headless browser: {found}")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, chromedriver = found
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1360,1000",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # A seller's browser in China: Chinese first (the page follows Accept-Language until the seller switches).
    options.add_argument("--lang=zh-CN")
    options.add_experimental_option("prefs", {"intl.accept_languages": "zh-CN,zh"})
    driver = webdriver.Chrome(options=options, service=Service(chromedriver))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def stack(local_stack):
    """The local stack; afterwards moto forgets this test's shops (its data lives as long as the process)."""
    yield local_stack
    urllib3.PoolManager().request("POST", f"{local_stack.endpoints.aws}/moto-api/reset")


def wait_for(driver, condition, what: str):
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    # The page re-renders tables after each call: an element found a moment ago may be replaced; look again.
    ignored = (NoSuchElementException, StaleElementReferenceException)
    wait = WebDriverWait(driver, WAIT_SECONDS, ignored_exceptions=ignored)
    return wait.until(condition, message=f"waited for {what}")


def by_css(driver, selector: str):
    return driver.find_element("css selector", selector)


def click(driver, selector: str) -> None:
    """Click an element after scrolling it to the middle (the header stays on top of the page's edge)."""
    element = by_css(driver, selector)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    element.click()


def open_dashboard(driver, url: str) -> None:
    driver.get(url)
    wait_for(driver, lambda d: d.find_element("tag name", "body").get_attribute("data-ready") == "1", "the page")


def log_in_through_oauth(driver, stack) -> str:
    """The browser starts the app's OAuth flow; the seller 'logs in' at the sandbox marketplace."""
    account = stack.marketplace.add_seller(SHOP)
    driver.get(f"{stack.endpoints.app}/oauth/start")
    authorize = driver.current_url  # the marketplace's authorize page, which asks who is logging in
    assert authorize.startswith(stack.endpoints.marketplace), authorize
    answer = urllib3.PoolManager().request("GET", f"{authorize}&nick={SHOP}", redirect=False)
    callback = answer.headers["Location"]
    assert urlsplit(callback).path == "/oauth/callback"
    driver.get(callback)  # sets the HttpOnly session cookie and lands on the page that says it is done
    wait_for(driver, lambda d: urlsplit(d.current_url).path == "/oauth/done", "the authorized page")
    # Not opened by the workbench's page: nothing to tell, a way on to the dashboard instead.
    wait_for(driver, lambda d: by_css(d, "body").get_attribute("data-opener") == "none", "the way back")
    assert by_css(driver, "#open-here").is_displayed() and not by_css(driver, "#back").is_displayed()
    return account.user_id


def give_the_shop_a_history(seller_id: str, stack) -> None:
    """A paid plan, thirty days of counters and a handful of tasks, as billing and the pipeline would leave."""
    now = stack.clock.now()
    paid_until = int((now + timedelta(days=23, hours=2)).timestamp())
    set_seller(seller_id, now, plan="FW_GOODS-1000000-2", paid_until=paid_until)
    today = market_date(now)
    for back in range(30):
        day = (today - timedelta(days=back)).isoformat()
        stats.bump(seller_id, stats.hour_bucket(day, 11), {"posts": 18 + (back * 7) % 15}, now=now)
        counters = {"skipped_refunded": back % 3, "skipped_blacklisted": back % 5 == 0, "rating_good": 15 + back % 6}
        counters |= {"failed": int(back % 9 == 4), "expired": int(back % 11 == 7), "rating_bad": int(back % 8 == 3)}
        stats.bump(seller_id, day, {k: int(v) for k, v in counters.items() if v}, now=now)
    states = [State.POSTED] * 4 + [State.SCHEDULED, State.HELD, State.SKIPPED, State.FAILED]
    for i, state in enumerate(states):
        reason = {State.HELD: "refund", State.SKIPPED: "blacklisted", State.FAILED: "permission_denied"}.get(state)
        seed_task(
            seller_id,
            f"41000000000000{i:02d}",
            now,
            state=state,
            trade_end=now - timedelta(hours=3 * (len(states) - i)),
            holds=frozenset({"refund"}) if state is State.HELD else frozenset(),
            reason=reason,
            buyer_masked=f"{'abcdefgh'[i]}***{i}",
        )


def test_a_seller_manages_the_app_from_the_dashboard(stack, browser):
    driver = browser
    seller_id = log_in_through_oauth(driver, stack)
    give_the_shop_a_history(seller_id, stack)
    open_dashboard(driver, f"{stack.endpoints.app}/")

    assert by_css(driver, "#shop").text == SHOP
    assert by_css(driver, "#plan").text == "专业版"
    assert by_css(driver, "#days-left").text == "剩余 24 天"
    assert len(driver.find_elements("css selector", "#stats-chart rect")) >= 30
    assert len(driver.find_elements("css selector", "#tasks-body tr")) == 8

    # Change a setting: the form saves, the store has it.
    driver.execute_script("document.getElementById('s-mode').value = 'delay'")
    delay = by_css(driver, "#s-delay")
    delay.clear()
    delay.send_keys("6")
    click(driver, "#settings-save")
    wait_for(driver, lambda d: by_css(d, "#settings-status").text == "已保存。", "the settings to save")
    saved = sellers.get(seller_id).settings
    assert (saved["mode"], saved["delay_hours"]) == ("delay", 6)

    # The preview renders for a sample trade and shows the lint verdict.
    draft = by_css(driver, "#preview-template")
    draft.clear()
    draft.send_keys("谢谢{buyer_masked}光临{shop_name}，祝生活愉快！")
    click(driver, "#preview-run")
    wait_for(driver, lambda d: SHOP in by_css(d, "#preview-content").text, "the preview")
    assert by_css(driver, "#preview-content").text == f"谢谢t***r光临{SHOP}，祝生活愉快！"
    assert "可以发布" in by_css(driver, "#preview-verdict").text

    # Retry the failed review from the table.
    click(driver, 'tr[data-tid="4100000000000007"] button.task-retry')
    retried = 'tr[data-tid="4100000000000007"] .state'
    wait_for(driver, lambda d: by_css(d, retried).get_attribute("data-state") == "scheduled", "the retry")
    assert by_css(driver, retried).text == "待发布"
    assert tasks.get(seller_id, "4100000000000007").state == "scheduled"

    # An empty add says what to fill in, in the seller's words (the API's open_uid is not theirs).
    click(driver, "#bl-add")
    wait_for(driver, lambda d: by_css(d, "#bl-status").text == "请填写买家昵称或订单号", "the empty add refused")
    # Blacklist a buyer: only the masked nick is ever shown.
    by_css(driver, "#bl-nick").send_keys("tb_rude_buyer")
    click(driver, "#bl-add")
    wait_for(driver, lambda d: d.find_elements("css selector", "#bl-list li[data-id] .who"), "the new entry")
    assert by_css(driver, "#bl-list li[data-id] .who").text == "t***r"
    assert "tb_rude_buyer" not in driver.page_source
    assert len(blacklist.hashes(seller_id)) == 1
    save_screenshot(driver)
    click(driver, "#bl-list button.bl-remove")  # removal asks first: nothing is removed until confirmed
    wait_for(driver, lambda d: d.find_elements("css selector", "#bl-list .confirm-yes"), "the confirmation")
    assert "t***r" in by_css(driver, "#bl-list .confirm").text and len(blacklist.hashes(seller_id)) == 1
    click(driver, "#bl-list .confirm-yes")
    wait_for(driver, lambda d: not d.find_elements("css selector", "#bl-list li[data-id]"), "the removal")
    assert blacklist.hashes(seller_id) == frozenset()

    # Alerts reach the seller's WeCom group: the key is taken, never shown back, and a test message arrives.
    stack.marketplace.robots.add_wecom(WECOM_KEY)
    by_css(driver, "#robot-wecom-webhook").send_keys(
        f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={WECOM_KEY}"
    )
    click(driver, "#robot-wecom .robot-save")
    wait_for(driver, lambda d: "已设置" in by_css(d, "#robot-wecom-state").text, "the robot to be kept")
    assert WECOM_KEY not in driver.page_source
    click(driver, "#robot-wecom .robot-test")
    wait_for(driver, lambda d: "测试消息已发送" in by_css(d, "#robot-wecom-status").text, "the test message")
    assert len(stack.marketplace.robots.robot("wecom", WECOM_KEY).received) == 1

    # The 操作日志 names what the seller just did.
    click(driver, "#log-apply")
    wait_for(driver, lambda d: "设置了企业微信群机器人" in by_css(d, "#log-list").text, "the log")
    assert "把一位买家移出黑名单" in by_css(driver, "#log-list").text

    # A bad delay and a bad template are refused together, each on its field: outlined, tied to its message,
    # the first one focused; the count beside the save button; nothing changes.
    delay = by_css(driver, "#s-delay")
    delay.clear()
    delay.send_keys("9999")
    templates = by_css(driver, "#s-templates")
    templates.clear()
    templates.send_keys("谢谢{oops}")
    click(driver, "#settings-save")
    error = '.field-error[data-for="templates"]'
    wait_for(driver, lambda d: "第 3 个字起的“{oops}”不是可用的变量" in by_css(d, error).text, "the field error")
    assert by_css(driver, '.field-error[data-for="delay_hours"]').text == "不能大于 360"
    for field, slot in (("#s-delay", "delay_hours"), ("#s-templates", "templates")):
        assert by_css(driver, field).get_attribute("aria-invalid") == "true"
        described = by_css(driver, field).get_attribute("aria-describedby")
        assert by_css(driver, f"#{described}").get_attribute("data-for") == slot
    assert driver.execute_script("return document.activeElement.id") == "s-delay"  # the first field in the form
    assert by_css(driver, "#settings-status").text == "设置未保存：有 2 处需要修改，已用红框标出。"
    assert sellers.get(seller_id).settings["templates"] == saved["templates"]
    # The variables are tags in the seller's words; a click puts the placeholder in the template.
    templates.clear()
    click(driver, '#s-vars button[data-var="buyer_masked"]')
    assert by_css(driver, "#s-vars").text.split()[1:4] == ["【买家昵称】", "【宝贝名称】", "【店铺名】"]
    assert templates.get_attribute("value") == "{buyer_masked}"

    # Text the marketplace would refuse is reported before it is ever saved.
    draft = by_css(driver, "#preview-template")
    draft.clear()
    draft.send_keys("加微信领红包")
    click(driver, "#preview-run")
    wait_for(driver, lambda d: d.find_elements("css selector", '#preview-verdict li[data-code="banned_word"]'), "lint")
    named = [li.text for li in driver.find_elements("css selector", '#preview-verdict li[data-code="banned_word"]')]
    assert sorted(named) == ["含有平台禁用词“加微信”", "含有平台禁用词“红包”"]  # each word named, once
    draft.clear()
    draft.send_keys("谢谢{nick}")
    click(driver, "#preview-run")
    wait_for(driver, lambda d: "模板格式有误" in by_css(d, "#preview-verdict").text, "the template error")
    assert "第 3 个字起的“{nick}”" in by_css(driver, "#preview-verdict").text
    assert by_css(driver, "#preview-length").text == ""  # no "0 / 500 字" for a template that does not parse

    violations = [e["message"] for e in driver.get_log("browser") if "Content Security Policy" in e["message"]]
    assert violations == []


def test_the_printed_link_logs_in_once_and_never_switches_a_signed_in_shop_by_itself(stack, browser):
    driver = browser
    from chalicelib.domain.settings import default_settings

    now = stack.clock.now()
    for seller_id, nick in (("2299000077", "link_shop"), ("2299000078", "other_shop")):
        sellers.create(seller_id, nick, now=now, settings=default_settings().model_dump(mode="json"))
    code = seller_sessions.login_link_code("2299000077", now=now, ttl=timedelta(hours=1))
    open_dashboard(driver, f"{stack.endpoints.app}/login?code={code}")
    assert urlsplit(driver.current_url).path == "/" and "code" not in driver.current_url
    assert by_css(driver, "#shop").text == "link_shop"
    assert "signed-out" not in (by_css(driver, "body").get_attribute("class") or "")

    # A session in the URL (the old ?token= links) is never taken: the signed-in shop stays.
    stranger = seller_sessions.start("2299000078", now=now).token
    open_dashboard(driver, f"{stack.endpoints.app}/?token={stranger}&tab=tasks")
    assert "token" not in driver.current_url and by_css(driver, "#shop").text == "link_shop"

    # A link of another shop asks first, naming both; staying keeps the shop.
    other = seller_sessions.login_link_code("2299000078", now=now, ttl=timedelta(hours=1))
    driver.get(f"{stack.endpoints.app}/login?code={other}")
    assert by_css(driver, "body").get_attribute("data-code") == "switch_shop"
    assert "link_shop" in by_css(driver, "main").text and "other_shop" in by_css(driver, "main").text
    driver.find_elements("css selector", "main a")[0].click()  # 留在“link_shop”
    wait_for(driver, lambda d: d.find_element("tag name", "body").get_attribute("data-ready") == "1", "the page")
    assert by_css(driver, "#shop").text == "link_shop"

    # The used link is a page in the seller's language, not JSON.
    driver.get(f"{stack.endpoints.app}/login?code={code}")
    assert "登录链接已使用或已过期" in by_css(driver, "main").text

    # Logging out: the banner says what happened and what to do next.
    open_dashboard(driver, f"{stack.endpoints.app}/")
    click(driver, "#logout")
    wait_for(driver, lambda d: "signed-out" in by_css(d, "body").get_attribute("class"), "the log-out")
    assert by_css(driver, "#auth-banner").text == "已退出登录。需要时请从千牛重新打开本应用。"
    open_dashboard(driver, f"{stack.endpoints.app}/")
    assert "signed-out" in by_css(driver, "body").get_attribute("class")
    assert by_css(driver, "#auth-banner").text == "登录已过期，请从千牛重新打开本应用。"


def save_screenshot(driver) -> None:
    """The whole page as build/dashboard.png (for the docs, and for a person to look at)."""
    driver.execute_script("window.scrollTo(0, 0)")
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1360, height + 160)
    SCREENSHOT.parent.mkdir(exist_ok=True)
    driver.save_screenshot(str(SCREENSHOT))
    driver.set_window_size(1360, 1000)
