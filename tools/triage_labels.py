"""Keyword rules that label complaint texts with a category, for building and evaluating the triage model.

Not deployed. The rules give each text its *primary* complaint: the category with the most keyword hits, ties
broken by ``PRIORITY`` (a threat outranks everything, then what the seller can act on most directly). A text
no rule matches is ``other``. The evaluation set was labeled by these rules and then checked by hand
(``bench/data/triage_eval.jsonl`` says which labels a person changed).
"""

from __future__ import annotations

import re

PRIORITY = (
    "bad_faith",
    "not_as_described",
    "size_fit",
    "packaging",
    "logistics",
    "quality",
    "service",
    "price",
)

KEYWORDS: dict[str, tuple[str, ...]] = {
    "bad_faith": (
        r"不(给|退|补|赔).{0,8}(就|我就|便).{0,4}(差评|中评|投诉)",
        r"(返现|红包|补偿|赔偿|退款).{0,10}(不然|否则|要不).{0,8}(差评|中评|投诉)",
        r"(不然|否则).{0,6}(差评|中评|曝光)",
        r"(给|打).{0,4}(差评|中评).{0,6}(除非|直到)",
        r"敲诈|勒索|威胁.{0,4}(差评|评价)",
    ),
    "not_as_described": (
        r"描述不符|不符合描述|与(介绍|宣传|图片|实际)不|和(图片|介绍|宣传|网上)(的)?不|货不对板|色差|虚假(宣传|广告)",
        r"假货|不是正品|盗版|山寨|翻新|返修|二手|发错|不是我(买|要|订)的|实物(却|是|和)|实际(收到|却)|图片显示",
    ),
    "size_fit": (
        r"尺码|码数|偏大|偏小|不合身|大一码|小一码|大了一码|小了一码",
        r"(穿|衣|裤|鞋|袖|腰|码|裙|帽).{0,6}(太大|太小|太长|太短|太紧|太松|大了|小了)",
    ),
    "packaging": (r"包装|外箱|纸箱|塑封|封口|压坏|压扁|书角|泡沫|防震",),
    "logistics": (
        r"物流|快递|发货|送货|到货|配送|邮寄|运输|还没(到|收到)|没有收到|收不到|迟迟|丢件|签收|派送",
        r"等了.{0,6}(天|周|星期)|天才(到|收到)",
    ),
    "quality": (
        r"质量|做工|故障|坏了|损坏|破损|缺陷|瑕疵|毛病|有问题|不能用|没法用|用不了|死机|蓝屏|发热|发烫|异味|臭|噪音|掉色|起球|开线|脱胶|裂",
        r"不稳定|卡机|很卡|有点卡|卡顿|坏点|亮点|漏光|划痕|发霉|脏|陈旧|老旧|破旧|不亮|漏水|断电|松动|不灵|粗糙",
    ),
    "service": (
        r"服务(态度|质量|意识|太差|很差|差|不好|一般)|态度|客服|前台|服务员|店员|不理|不回|爱理不理|推脱|推卸|不耐烦|生硬|冷漠|售后",
    ),
    "price": (
        r"太贵|偏贵|贵了|有点贵|挺贵|很贵|不便宜|价格(偏高|太高|高)|不值|性价比(不高|低|差|太低)|降价|跌价|差价|多收|坑钱|要钱|加钱|冤",
    ),
}

_COMPILED = {name: [re.compile(p) for p in patterns] for name, patterns in KEYWORDS.items()}


def hits(text: str) -> dict[str, int]:
    """How many keyword matches each category has in ``text``."""
    return {name: sum(len(p.findall(text)) for p in patterns) for name, patterns in _COMPILED.items()}


def label(text: str) -> str:
    """The primary complaint category of ``text`` by the rules (``other`` when none matches)."""
    counts = hits(text)
    if counts["bad_faith"]:
        return "bad_faith"
    best = max(counts.values())
    if best == 0:
        return "other"
    return next(name for name in PRIORITY if counts[name] == best)
