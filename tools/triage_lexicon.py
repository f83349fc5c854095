"""Word lists per complaint category whose matches are features of the category model (not labels).

Not deployed as code: the patterns ship in the model document's ``keywords`` section next to the keyword rules of
``tools.triage_labels``. Each list gathers the many words of one kind of complaint into one feature, so the model
can learn from a few thousand texts that, say, 盗版, 水货 and 翻新 point the same way. Written from the labeling
guideline in docs/triage.md, not from the evaluation set. ``(?i)`` because laptops' reviews spell XP or EMS either way.
"""

from __future__ import annotations

LEXICON: dict[str, tuple[str, ...]] = {
    "lexicon_not_as_described": (
        r"翻新|返修|二手|用过|旧货|不是新的|描述|介绍|宣传|标称|标的|写的是|写着|号称|说是|承诺",
        r"实际|实物|图片|照片|不符|不一致|不一样|发错|错发|欺骗|骗人|忽悠|上当|材质|面料|不是纯|冒充",
    ),
    "lexicon_counterfeit": (
        r"(?i)盗版|正版|正品|假的|假货|假酒|水货|山寨|高仿|仿品|仿的|a货|鉴定|防伪|专柜|验货|扫码|复印",
    ),
    "lexicon_missing_gift": (
        r"赠品|赠送|送的|说送|没送|没有送|礼品|小礼物|小样|漏发|少发|配件|少了.{0,3}(个|根|条|件)|附件|说明书",
    ),
    "lexicon_short_weight": (
        r"斤两|缺斤|少两|分量|份量|重量|称了|一称|净含量|不够秤|(说是?|标的?)[0-9一二两三四五六七八九十半]+.{0,3}(斤|克|g|毫升|ml|包|片|支|只|双|瓶|袋|抽)",
    ),
    "lexicon_color_diff": (r"色差|颜色|色号|试色|偏黄|偏暗|偏深|偏浅|发灰|发黄|调色|滤镜|色卡",),
    "lexicon_pilling_fading": (r"起球|起毛|毛球|掉毛|掉色|褪色|染色|染了|染蓝|染黑|染红|发白|缩水",),
    "lexicon_freshness": (
        r"不新鲜|新鲜|烂|坏果|坏了.{0,2}个|发霉|霉|长毛|变质|馊|臭|酸味|过期|临期|保质期|生产日期|死了|蔫|哈喇|受潮|化冻|冰袋",
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
        r"质量|做工|坏|故障|噪音|声音|响|吵|发热|热|烫|蓝屏|死机|脏|旧|漏|缺页|印刷|纸张|掉页|断|裂|划痕|亮点|坏点|开线|开胶|失灵",
        r"蟑螂|蚊子|设施|设备|隔音|空调|热水|卫生|毛巾|床|早餐",
    ),
    "lexicon_other": (
        r"(?i)内容|作者|故事|情节|观点|书中|文字|孩子|宝宝|适合|位置|交通|地段|离|系统|vista|xp|linux|驱动|分区|内存|设计",
    ),
}
