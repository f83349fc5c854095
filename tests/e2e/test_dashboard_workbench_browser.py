"""The dashboard as a seller meets it in the 千牛 workbench: inside a cross-origin iframe, at desktop (1366 px) and
phone (375 px) widths, in Chinese (the default) and English (the toggle, remembered), with the bad-review center,
checked by axe-core for serious and critical accessibility violations.

Screenshots go to ``build/screenshots/`` (the framed view and the whole page, per language and width) for a person
to look at. Skipped, saying why, where no browser can run; the accessibility check is skipped, saying why, where
axe-core cannot be installed (``.ci/run`` installs it with npm into ``build/axe``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from chalicelib.domain.market_time import market_date
from chalicelib.domain.triage import classify
from chalicelib.services.sessions import seller_sessions
from chalicelib.store import ratings, sellers, stats, tasks, triage_data
from tests.e2e import test_dashboard_browser as base
from tests.e2e.test_dashboard_browser import by_css, click, give_the_shop_a_history, wait_for
from tests.helpers import make_seller, set_seller

pytestmark = [pytest.mark.e2e, pytest.mark.browser]
browser = base.browser  # the same headless Chromium and local stack fixtures as the dashboard's own test
stack = base.stack

SHOTS = Path("build/screenshots")
AXE_VERSION = "4.11.0"
AXE_JS = Path("build/axe/node_modules/axe-core/axe.min.js")
WIDTHS = (1366, 375)
SHOP = "workbench_shop"
BLACKLIST_EMPTY = {"zh-CN": "请填写买家昵称或订单号", "en": "enter the buyer's nick or the order number"}
COMPLAINTS = {
    "4200000000000001": ("bad", "物流太慢了，等了一个星期才到，快递员还不送上门"),
    "4200000000000002": ("neutral", "衣服洗了一次就掉色起球，质量一般"),
    "4200000000000003": ("bad", "不给我返现二十块就给差评，自己看着办"),
    "4200000000000004": ("bad", "包装太简陋了，盒子都压扁了"),
}


@pytest.fixture(scope="module")
def axe_source() -> str:
    """axe-core's browser bundle, installed from the npm registry into build/axe when it is not there yet."""
    if not AXE_JS.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("no npm to install axe-core for the accessibility check")
        done = subprocess.run(
            [npm, "install", "--prefix", "build/axe", "--no-audit", "--no-fund", f"axe-core@{AXE_VERSION}"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0 or not AXE_JS.exists():
            pytest.skip(f"axe-core could not be installed: {done.stderr.strip()[-200:]}")
    return AXE_JS.read_text(encoding="utf-8")


class _Host(BaseHTTPRequestHandler):
    """The workbench's stand-in: a page on another origin that frames the app at full width."""

    target = ""

    def do_GET(self):
        page = (
            '<!doctype html><html><head><meta name="viewport" content="width=device-width, initial-scale=1">'
            "<style>html,body{margin:0;height:100%}iframe{border:0;width:100%;height:100%;display:block}</style>"
            f'</head><body><iframe id="app" title="haoping" src="{self.target}"></iframe></body></html>'
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)

    def log_message(self, *args):
        pass


@pytest.fixture
def workbench():
    """Start a host page on 127.0.0.1 (an origin other than the app's); yields a function that frames a URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Host)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def frame(url: str) -> str:
        _Host.target = url
        return f"http://127.0.0.1:{server.server_port}/"

    yield frame
    server.shutdown()
    server.server_close()


def a_shop_with_complaints(stack) -> str:
    """A paid shop with a month of history and four neutral/bad ratings, triaged as the pipeline would."""
    from tests.integration.test_seller_api import seed_task

    now = stack.clock.now()
    market = stack.marketplace
    account = market.add_seller(SHOP)
    seller_id = make_seller(now, user_id=account.user_id, nick=SHOP, access_token=account.access_token)
    give_the_shop_a_history(seller_id, stack)
    for i, (tid, (result, text)) in enumerate(COMPLAINTS.items()):
        ended = now - timedelta(days=2, hours=i)
        oid = int(tid + "1")  # the sub-order id seed_task gives the task
        market.add_trade(
            SHOP,
            tid=int(tid),
            oid=oid,
            buyer_nick=f"tb_buyer_{i}",
            buyer_open_uid=f"AAH{tid}",
            payment="59.00",
            item_title="纯棉T恤",
            created=ended - timedelta(days=3),
            end_time=ended,
        )
        market.add_buyer_rate(int(tid), result, text, oid=oid)
        seed_task(seller_id, tid, now, trade_end=ended, buyer_masked=f"买***{i}")
        tasks.set_buyer_rating(seller_id, tid, result, now=now - timedelta(hours=5 - i))
        found = classify(triage_data.model(), triage_data.categories(), text)
        doc = {"category": found.category, "confidence": found.confidence, "sentiment": found.sentiment}
        doc |= {
            "positive": found.positive,
            "bad_faith": found.bad_faith,
            "evidence": list(found.evidence),
            "model": "test",
        }
        ratings.record_triage(seller_id, tid, text=text, triage=doc, now=now)
    return seller_id


def link(stack, seller_id: str) -> str:
    """A one-time login link: opened in the frame, it sets the session cookie and lands on the dashboard."""
    code = seller_sessions.login_link_code(seller_id, now=stack.clock.now(), ttl=timedelta(hours=1))
    return f"{stack.endpoints.app}/login?code={code}"


def signed_in_frame(driver, stack, workbench, seller_id: str, width: int) -> str:
    """Open the one-time login link inside the workbench's frame (the cookie is set there), and return the host
    page that frames the dashboard itself, for the later visits (the link works once)."""
    into_app(driver, workbench(link(stack, seller_id)), width)
    return workbench(f"{stack.endpoints.app}/")


def into_app(driver, host_url: str, width: int) -> None:
    driver.set_window_size(width, 900)
    driver.get(host_url)
    driver.switch_to.default_content()
    driver.switch_to.frame(by_css(driver, "#app"))
    ready = "return document.body.getAttribute('data-ready')"
    wait_for(driver, lambda d: d.execute_script(ready) == "1", "the framed page")


def fits_the_width(driver) -> list[str]:
    """Elements that stick out of the frame's viewport (nothing may scroll sideways)."""
    return driver.execute_script(
        """
        const width = document.documentElement.clientWidth;
        if (document.documentElement.scrollWidth <= width) return [];
        return [...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > width + 1)
          .slice(0, 5).map((e) => e.tagName + '#' + e.id + '.' + e.className);
        """
    )


def charts_read_well(driver) -> list[str]:
    """What is wrong with the charts as drawn: text smaller than 9 px on screen, or a y-axis label repeated."""
    return driver.execute_script(
        """
        const wrong = [];
        for (const chart of document.querySelectorAll('svg.chart')) {
          const texts = [...chart.querySelectorAll('text')];
          for (const t of texts) {
            const px = t.getBoundingClientRect().height;
            if (px && px < 9) { wrong.push(chart.id + ' text ' + px.toFixed(1) + 'px'); break; }
          }
          const left = Math.min(...texts.map((t) => Number(t.getAttribute('x'))));
          const axis = texts.filter((t) => Number(t.getAttribute('x')) === left)
            .filter((t) => t.getAttribute('text-anchor') === 'end').map((t) => t.textContent);
          if (axis.length !== 3 || new Set(axis).size !== 3) wrong.push(chart.id + ' axis ' + axis.join(','));
        }
        return wrong;
        """
    )


def small_targets(driver) -> list[str]:
    """Visible controls smaller than 40×40 px (a checkbox counts by its label, which is the target)."""
    return driver.execute_script(
        """
        const small = [];
        for (const e of document.querySelectorAll('button, a.button, select, input, textarea')) {
          const target = e.type === 'checkbox' ? e.closest('label') : e;
          const box = target.getBoundingClientRect();
          if (!box.width || !box.height || getComputedStyle(e).visibility === 'hidden') continue;
          if (box.height < 40 || box.width < 40) small.push((e.id || e.className || e.tagName) + ' ' +
            Math.round(box.width) + 'x' + Math.round(box.height));
        }
        return small;
        """
    )


def axe_violations(driver, source: str) -> list[dict]:
    driver.execute_script(source)
    result = driver.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21aa'] } })
          .then((r) => done(JSON.stringify(r.violations.map((v) => ({ id: v.id, impact: v.impact,
            nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }))))).catch((e) => done(JSON.stringify(
            [{ id: 'axe-error', impact: 'critical', nodes: [String(e)] }])));
        """
    )
    return [v for v in json.loads(result) if v["impact"] in ("serious", "critical")]


def shoot(driver, name: str, width: int) -> None:
    """The framed view as the seller sees it, then the whole page (the app opened on its own, full height)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    driver.switch_to.default_content()
    driver.save_screenshot(str(SHOTS / f"{name}-framed.png"))
    driver.switch_to.frame(by_css(driver, "#app"))
    height = driver.execute_script("return document.documentElement.scrollHeight")
    src = driver.execute_script("return location.href")
    driver.switch_to.default_content()
    driver.get(src)
    wait_for(driver, lambda d: d.execute_script("return document.body.getAttribute('data-ready')") == "1", "the page")
    driver.set_window_size(width, min(height + 140, 16000))
    driver.save_screenshot(str(SHOTS / f"{name}.png"))


def test_the_dashboard_in_the_workbench_frame_in_both_languages_at_both_widths(stack, browser, workbench, axe_source):
    driver = browser
    driver.set_script_timeout(60)
    seller_id = a_shop_with_complaints(stack)
    host = signed_in_frame(driver, stack, workbench, seller_id, WIDTHS[0])
    seen = {}
    for lang in ("zh-CN", "en"):
        for width in WIDTHS:
            into_app(driver, host, width)
            if driver.execute_script("return document.documentElement.lang") != lang:
                click(driver, "#lang-toggle")
                wait_for(driver, lambda d: d.execute_script("return document.body.getAttribute('data-ready')"), "")
            assert driver.execute_script("return document.documentElement.lang") == lang
            seen[(lang, width)] = {
                "title": by_css(driver, "#center-title").text,
                "days": by_css(driver, "#days-left").text,
                "ratings": len(driver.find_elements("css selector", "#ratings li.rating")),
                "guidance": len(
                    driver.find_elements("css selector", '#ratings li[data-tid="4200000000000003"] .guidance')
                ),
                "shares": len(driver.find_elements("css selector", "#shares li[data-category]")),
                "lines": len(driver.find_elements("css selector", "#rating-chart polyline")),
            }
            assert driver.execute_script("return document.body.getAttribute('data-failed')") == "", (lang, width)
            assert charts_read_well(driver) == [], (lang, width)
            paddings = driver.execute_script(
                "return [...document.querySelectorAll('#totals .tile')].map((e) => getComputedStyle(e).padding)"
            )
            assert len(paddings) == 5 and len(set(paddings)) == 1, paddings  # the fifth tile keeps its padding
            assert "FW_GOODS" not in by_css(driver, "body").text  # the plan by its name, never its code
            assert by_css(driver, "#plan").text == {"zh-CN": "专业版", "en": "Pro plan"}[lang]
            # The blacklist asks for what a seller knows (a nick or an order number), in their words.
            words = driver.execute_script(
                "return document.body.innerText + ' ' + [...document.querySelectorAll('[placeholder]')]"
                ".map((e) => e.placeholder).join(' ')"
            )
            assert not [jargon for jargon in ("open uid", "open_uid", "openuid") if jargon in words.lower()]
            click(driver, "#bl-add")
            said = BLACKLIST_EMPTY[lang]
            wait_for(driver, lambda d, said=said: by_css(d, "#bl-status").text == said, "the empty add refused")
            assert fits_the_width(driver) == [], (lang, width)
            assert small_targets(driver) == [], (lang, width)
            assert axe_violations(driver, axe_source) == [], (lang, width)
            shoot(driver, f"dashboard-{lang}-{width}", width)

    assert seen[("zh-CN", 1366)]["title"].startswith("中差评中心")
    assert seen[("zh-CN", 375)]["days"] == "剩余 24 天"
    assert seen[("en", 1366)]["title"].startswith("Bad-review center")
    assert seen[("en", 375)]["days"] == "24 days left"
    for found in seen.values():
        assert (found["ratings"], found["guidance"], found["lines"]) == (4, 1, 3)
        assert found["shares"] == 4  # logistics, quality, bad faith, packaging


def test_one_click_explain_from_the_frame_posts_through_the_guard_once(stack, browser, workbench):
    driver = browser
    seller_id = a_shop_with_complaints(stack)
    signed_in_frame(driver, stack, workbench, seller_id, 375)
    item = '#ratings li[data-tid="4200000000000004"]'
    suggestion = by_css(driver, f"{item} textarea").get_attribute("value")
    assert suggestion and "{" not in suggestion  # rendered for this trade, no raw placeholders
    click(driver, f"{item} button.explain")
    wait_for(driver, lambda d: d.find_elements("css selector", f"{item} .reply"), "the posted reply")
    # The reply goes through the one write path (a queued job since explanations became jobs): the seller sees it
    # recorded at once, and the marketplace receives it at most once.
    shown = by_css(driver, f"{item} .reply").text
    assert shown.split(" · ")[0] in {"等待发布", "已解释"}
    assert ratings.explanation_of(tasks.get(seller_id, "4200000000000004"))["state"] in {"queued", "explained"}
    assert not driver.find_elements("css selector", f"{item} button.explain")  # nothing left to click
    [rate] = stack.marketplace.state.rates_for(
        SHOP, rate_type="get", role="buyer", result=None, start=None, end=None, tid=4200000000000004
    )
    assert rate["reply"] in ("", shown.split(": ", 1)[1])


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_an_edited_reply_is_plain_text_and_contact_details_are_refused_on_the_field(stack, browser, workbench, lang):
    driver = browser
    seller_id = a_shop_with_complaints(stack)
    host = signed_in_frame(driver, stack, workbench, seller_id, 375)
    if lang == "en":
        click(driver, "#lang-toggle")
        into_app(driver, host, 375)
    refused = '#ratings li[data-tid="4200000000000001"]'
    box = by_css(driver, f"{refused} textarea")
    box.clear()
    box.send_keys("亲，物流问题请拨13812345678，我们马上处理")
    click(driver, f"{refused} button.explain")
    status = f"{refused} .actions .status"
    wait_for(driver, lambda d: by_css(d, status).text, "the refusal")
    expected = {
        "zh-CN": "解释未提交：含有联系方式（第 9 个字起的手机号）。请修改后再提交。",
        "en": "Not submitted: content contains something like a phone number starting at character 9. "
        "Please change it and submit again.",
    }[lang]
    assert by_css(driver, status).text == expected
    assert box.get_attribute("aria-invalid") == "true"
    assert box.get_attribute("aria-describedby") == by_css(driver, status).get_attribute("id")
    assert driver.execute_script("return document.activeElement.tagName") == "TEXTAREA"
    assert tasks.get(seller_id, "4200000000000001#explain") is None  # nothing was queued
    shoot(driver, f"explain-refused-{lang}-375", 375)

    # Braces are just characters of the seller's reply (an emoticon code, a typo): queued as written, no error.
    into_app(driver, host, 375)
    item = '#ratings li[data-tid="4200000000000004"]'
    box = by_css(driver, f"{item} textarea")
    box.clear()
    box.send_keys("抱歉{捂脸}包装我们已经加厚了{")
    click(driver, f"{item} button.explain")
    wait_for(driver, lambda d: d.find_elements("css selector", f"{item} .reply"), "the queued reply")
    assert tasks.get(seller_id, "4200000000000004#explain").content == "抱歉{捂脸}包装我们已经加厚了{"


def test_a_part_that_cannot_load_says_so_in_the_sellers_words_with_a_retry(stack, browser, workbench):
    driver = browser
    seller_id = a_shop_with_complaints(stack)
    host = signed_in_frame(driver, stack, workbench, seller_id, 1366)
    for lang, said in (
        ("zh-CN", "没有加载出来：网络连接失败，请检查网络后重试。"),
        ("en", "This part did not load: Could"),
    ):
        if lang == "en":
            click(driver, "#lang-toggle")
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["*api/stats*"]})  # the network fails this call
        into_app(driver, host, 1366)
        failed = "#stats .load-error"
        assert by_css(driver, failed).text.startswith(said), by_css(driver, failed).text
        assert "Failed to fetch" not in by_css(driver, "body").text
        shoot(driver, f"load-error-{lang}-1366", 1366)
        into_app(driver, host, 1366)
        driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": []})
        click(driver, f"{failed} button.retry")
        wait_for(driver, lambda d: len(d.find_elements("css selector", "#totals .tile")) == 5, "the retried part")
        assert not driver.find_elements("css selector", failed)


def test_a_new_seller_sees_the_backfill_run_and_the_basic_plan_as_it_is(stack, browser, workbench):
    driver = browser
    now = stack.clock.now()
    basic = make_seller(now, user_id="2299000091", nick="new_shop", plan="FW_GOODS-1000000-1")
    progress = {"state": "running", "started_at": int(now.timestamp()), "windows": 15, "windows_done": 4}
    set_seller(basic, now, backfill=progress | {"trades": 12, "scheduled": 9})
    for lang, running, plan in (("zh-CN", "进行中", "（专业版可用）"), ("en", "In progress", "(Pro plan)")):
        host = signed_in_frame(driver, stack, workbench, basic, 375)
        if lang == "en":
            click(driver, "#lang-toggle")
            into_app(driver, host, 375)
        step = by_css(driver, '#journey-steps li[data-step="backfill"] b').text
        assert step.endswith(running)  # nothing is asked of the seller while it runs: not "next step"
        assert by_css(driver, "#backfill-progress").text  # its progress, in words
        boxes = driver.find_elements("css selector", "input[name=auto-category]")
        assert boxes and not any(box.is_selected() for box in boxes)  # greyed and unticked: plainly off
        assert all(box.get_attribute("disabled") for box in boxes)
        assert plan in by_css(driver, "#s-categories").text
        shoot(driver, f"first-run-{lang}-375", 375)
        driver.delete_all_cookies()

    # Finished: the steps go, the backfill's outcome stays in view.
    set_seller(basic, now, backfill=progress | {"state": "done", "windows_done": 15, "trades": 12, "scheduled": 9})
    stats.bump(basic, stats.hour_bucket(market_date(now).isoformat(), 11), {"posts": 3}, now=now)
    signed_in_frame(driver, stack, workbench, basic, 1366)
    assert not by_css(driver, "#journey-steps").is_displayed()
    outcome = by_css(driver, "#backfill-progress").text  # in the language the seller chose last (English)
    assert outcome.startswith("Backfill done") and "12" in outcome and by_css(driver, "#journey").is_displayed()


def test_an_unsubscribed_seller_is_sent_to_the_service_market_and_authorizes_outside_the_frame(
    stack, browser, workbench
):
    driver = browser
    now = stack.clock.now()
    seller_id = make_seller(now, user_id="2299000092", nick="unpaid_shop", plan=None, paid_days=0)
    set_seller(seller_id, now, status="reauth")
    signed_in_frame(driver, stack, workbench, seller_id, 1366)
    subscribe = by_css(driver, '#journey-steps a[data-action="subscribe"]')
    assert subscribe.text == "去服务市场订购" and subscribe.get_attribute("target") == "_blank"
    # This app's own listing (the setting's default: the article code's page), not the market's home page.
    listing = "https://fuwu.taobao.com/ser/detail.htm?service_code=FW_GOODS-1000000"
    assert subscribe.get_attribute("href") == listing
    authorize = by_css(driver, '#journey-steps a[data-action="authorize"]')
    assert authorize.text == "去授权" and "primary" in authorize.get_attribute("class")
    assert authorize.get_attribute("target") == "_blank"  # the platform's login pages refuse to be framed
    shoot(driver, "first-run-unpaid-zh-CN-1366", 1366)


def authorize_in_the_window_the_frame_opens(driver, stack, nick: str) -> None:
    """Click 去授权 in the frame; in the window it opens, the seller logs in at the sandbox marketplace and is sent
    back to the app's callback. Leaves the driver on the workbench's window, inside the frame."""
    import urllib3

    workbench_window = driver.current_window_handle
    click(driver, '#journey-steps a[data-action="authorize"]')
    wait_for(driver, lambda d: len(d.window_handles) == 2, "the authorization's window")
    popup = next(handle for handle in driver.window_handles if handle != workbench_window)
    driver.switch_to.window(popup)
    wait_for(driver, lambda d: d.current_url.startswith(stack.endpoints.marketplace), "the authorize page")
    answer = urllib3.PoolManager().request("GET", f"{driver.current_url}&nick={nick}", redirect=False)
    # Navigated by the page itself (as the marketplace's redirect would be): the window may close at once.
    driver.execute_script("location.href = arguments[0]", answer.headers["Location"])
    wait_for(driver, lambda d: d.window_handles == [workbench_window], "the authorization's window to close itself")
    driver.switch_to.window(workbench_window)
    driver.switch_to.frame(by_css(driver, "#app"))


def test_authorizing_in_its_own_window_comes_back_to_the_workbench(stack, browser, workbench, axe_source):
    driver = browser
    driver.set_script_timeout(60)
    now = stack.clock.now()
    nick = "returning_shop"
    account = stack.marketplace.add_seller(nick)
    seller_id = make_seller(now, user_id=account.user_id, nick=nick, access_token=account.access_token)
    told = {"zh-CN": "店铺已授权，设置进度已更新。", "en": "Shop authorized; your set-up steps are updated."}
    for lang in ("zh-CN", "en"):
        for width in WIDTHS:
            set_seller(seller_id, now, status="reauth")  # the grant lapsed: authorization is the step to do
            signed_in_frame(driver, stack, workbench, seller_id, width)
            if driver.execute_script("return document.documentElement.lang") != lang:
                click(driver, "#lang-toggle")
                wait_for(driver, lambda d: d.execute_script("return document.body.getAttribute('data-ready')"), "")
            step = '#journey-steps li[data-step="authorization"]'
            assert "current" in by_css(driver, step).get_attribute("class")

            authorize_in_the_window_the_frame_opens(driver, stack, nick)

            # The landing page told this tab: its steps are read again at once, and it says so.
            said = told[lang]
            wait_for(driver, lambda d, said=said: by_css(d, "#journey-status").text == said, "the workbench told")
            # The steps are drawn again with what was read: look for the step in the list as it is now.
            wait_for(driver, lambda d, step=step: "done" in by_css(d, step).get_attribute("class"), "the step done")
            assert not driver.find_elements("css selector", '#journey-steps a[data-action="authorize"]')
            assert sellers.get(seller_id).status != "reauth"
            assert fits_the_width(driver) == [], (lang, width)
            shoot(driver, f"authorized-back-{lang}-{width}", width)

    # Opened some other way (a bookmark, a new tab): no page to tell, so it says what to do and offers the app.
    expected = {
        "zh-CN": ("店铺已授权", "在本窗口打开好评助手"),
        "en": ("Shop authorized", "Open haoping here"),
    }
    SHOTS.mkdir(parents=True, exist_ok=True)
    for lang in ("zh-CN", "en"):
        for width in WIDTHS:
            driver.set_window_size(width, 900)
            driver.get(f"{stack.endpoints.app}/oauth/done")
            wait_for(driver, lambda d: by_css(d, "body").get_attribute("data-opener") == "none", "the landing page")
            if driver.execute_script("return document.documentElement.lang") != lang:
                click(driver, "#lang-toggle")
            assert driver.execute_script("return document.documentElement.lang") == lang
            title, open_here = expected[lang]
            assert by_css(driver, "#done-title").text == title
            link = by_css(driver, "#open-here")
            assert link.is_displayed() and link.text == open_here and not by_css(driver, "#back").is_displayed()
            assert link.get_attribute("href") == f"{stack.endpoints.app}/"
            assert fits_the_width(driver) == [] and small_targets(driver) == [], (lang, width)
            assert axe_violations(driver, axe_source) == [], (lang, width)
            driver.save_screenshot(str(SHOTS / f"authorized-{lang}-{width}.png"))

    # A declined authorization is a page in the seller's language with a way to try again, never a JSON body.
    refused = {"en": ("Authorization not completed", "Authorize again"), "zh-CN": ("授权没有完成", "重新授权")}
    for lang in ("en", "zh-CN"):  # English as last chosen on the landing page (its cookie), then the browser's
        if lang == "zh-CN":
            driver.delete_cookie("hp_lang")
        driver.set_window_size(375, 900)
        driver.get(f"{stack.endpoints.app}/oauth/callback?error=access_denied&state=x")
        title, again = refused[lang]
        assert by_css(driver, "h1").text == title and by_css(driver, "a.primary").text == again
        assert fits_the_width(driver) == [] and small_targets(driver) == [], lang
        assert axe_violations(driver, axe_source) == [], lang
        driver.save_screenshot(str(SHOTS / f"authorization-refused-{lang}-375.png"))
    driver.get(f"{stack.endpoints.app}/oauth/done")
    click(driver, "#open-here")  # the session the callback set opens the shop's dashboard in this window
    wait_for(driver, lambda d: d.execute_script("return document.body.getAttribute('data-ready')") == "1", "the app")
    assert by_css(driver, "#shop").text == nick
