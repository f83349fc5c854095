"""Word lists per complaint category whose matches are features of the category model (not labels).

Not deployed as code: the patterns ship in the model document's ``keywords`` section next to the keyword rules of
``tools.triage_labels``. Each list gathers the many words of one kind of complaint into one feature, so the model
can learn from a few thousand texts that, say, 盗版, 水货 and 翻新 point the same way. Written from the labeling
guideline in docs/triage.md, not from the evaluation set. ``(?i)`` because laptops' reviews spell XP or EMS either way.
"""

from __future__ import annotations

LEXICON: dict[str, tuple[str, ...]] = {
    "lexicon_not_as_described": (
        r"盗版|正版|假的|假货|水货|山寨|翻新|返修|二手|用过|旧货|不是新的|描述|介绍|宣传|标称|标的|写的是|写着|号称|说是|承诺",
        r"实际|实物|图片|照片|不符|不一致|不一样|缺少|少了|没有送|没送|赠品|赠送|礼品|漏发|发错|错发|欺骗|骗人|忽悠|上当",
    ),
    "lexicon_packaging": (
        r"包装|纸箱|箱子|盒子|封皮|塑封|塑料袋|泡沫|书角|折痕|压坏|压扁|压痕|磕|碰坏|皱|破损|运输|封条",
    ),
    "lexicon_logistics": (r"(?i)送货|快递|物流|发货|到货|收到|没到|配送|邮局|ems|自提|签收|催|几天|星期|订单|缺货",),
    "lexicon_price": (r"价格|价钱|房价|贵|便宜|降价|差价|保价|多收|收费|另收|加收|费|元|块钱|不值|性价比|优惠|折",),
    "lexicon_service": (
        r"服务员|前台|总台|客服|态度|经理|大堂|门童|保安|不理|冷淡|生硬|投诉|推诿|推脱|道歉|微笑|笑容|素质",
    ),
    "lexicon_quality": (
        r"质量|做工|坏|故障|噪音|声音|响|吵|发热|热|烫|蓝屏|死机|脏|旧|霉|臭|味|漏|缺页|印刷|纸张|掉页|断|裂|划痕|亮点|坏点",
        r"蟑螂|蚊子|设施|设备|隔音|空调|热水|卫生|毛巾|床|早餐",
    ),
    "lexicon_other": (
        r"(?i)内容|作者|故事|情节|观点|书中|文字|孩子|宝宝|适合|位置|交通|地段|离|系统|vista|xp|linux|驱动|分区|内存|设计",
    ),
}
