"""Where "去服务市场订购" sends a seller: this app's listing in the service market, configurable, and only ever an
https address on the market's own host."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from chalicelib.config import SettingsInvalid, load_settings


def test_by_default_the_listing_is_the_one_of_the_apps_article_code():
    listing = urlsplit(load_settings({"HAOPING_ARTICLE_CODE": "FW_GOODS-1234567"}).listing_url)
    assert (listing.scheme, listing.hostname, listing.path) == ("https", "fuwu.taobao.com", "/ser/detail.htm")
    assert parse_qs(listing.query) == {"service_code": ["FW_GOODS-1234567"]}
    assert "FW_GOODS-1000000" in load_settings({}).listing_url  # the shipped article code's own listing


def test_a_configured_listing_is_used_as_given():
    url = "https://fuwu.taobao.com/ser/detail.htm?service_code=FW_GOODS-1234567&tracelog=haoping"
    settings = load_settings({"HAOPING_SERVICE_LISTING_URL": url, "HAOPING_ARTICLE_CODE": "FW_GOODS-1"})
    assert settings.listing_url == url


@pytest.mark.parametrize(
    "url",
    [
        "http://fuwu.taobao.com/ser/detail.htm?service_code=FW_GOODS-1",  # not https
        "https://fuwu.taobao.com.evil.example/ser/detail.htm",  # another host that starts alike
        "https://evil.example/?u=https://fuwu.taobao.com/",
        "https://fuwu.taobao.com@evil.example/",  # the market's name as a user, another host
        "https://user@fuwu.taobao.com/ser/detail.htm",
        "https://fuwu.taobao.com:8443/ser/detail.htm",
        "https://taobao.com/",
        "javascript:alert(1)//fuwu.taobao.com",
        "fuwu.taobao.com/ser/detail.htm",
        "https://fuwu.taobao.com/ser/detail.htm?x=1 2",
        "https://fuwu.taobao.com/ser/\ndetail.htm",
    ],
)
def test_a_listing_off_the_service_market_is_refused_naming_the_variable(url):
    with pytest.raises(SettingsInvalid) as refused:
        load_settings({"HAOPING_SERVICE_LISTING_URL": url})
    assert "HAOPING_SERVICE_LISTING_URL" in str(refused.value)
    assert url not in str(refused.value)  # the message names the variable and the rule, never the value
