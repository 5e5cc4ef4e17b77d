"""The pages' words in English and Simplified Chinese.

- `MESSAGES`: the pages' own words; a test keeps the two key sets and their placeholders equal.
- `FEATURE_SENTENCES`: each catalogue feature's reason sentence, keyed by feature name. The
  English is the catalogue's own (`pentascore.features.catalog`); the Chinese is kept here, with
  the same ``{value}`` placeholder, filled in as `pentascore.explain.reasons` fills it.
- `ACTION_TEXTS`: each improvement action's words (`pentascore.explain.actions.ACTIONS`).
- `BAND_LABELS`: the score bands (`pentascore.model.scale.BAND_NAMES`).
- `REFUSALS`: the Chinese of the refusals a person can meet on their page (repairs, refresh,
  authorizations, disputes), keyed by their code (the English is the service's own sentence).
- `OPERATOR_REFUSALS`: those of an operator deciding a dispute, in both languages.

A test checks that every feature, action and band has both languages.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

from pentascore.explain.actions import ACTIONS
from pentascore.features.catalog import CATALOG
from pentascore.model.scale import BAND_NAMES
from pentascore.scores.run import ThinFile

LANGUAGES = ("en", "zh")

MESSAGES: dict[str, dict[str, str]] = {
    "en": {
        "title": "pentascore",
        "switch": "中文",
        "switch_label": "Language and account",
        "sign_in": "Sign in",
        "sign_out": "Sign out",
        "token": "Your access token",
        "my_score": "My score",
        "score_dial": "Score {score}, band {band}",
        "dimensions": "Five dimensions",
        "radar": "Dimensions on a 0-100 radar",
        "history": "History",
        "history_chart": "Score history",
        "why": "Why not higher",
        "points_lost": "points lost",
        "plan": "How to raise it",
        "points": "points",
        "months": "months",
        "whatif": "What if",
        "predict": "Predict",
        "predicted": "Predicted score {predicted} (range {low}-{high}) after {months} months",
        "authorizations": "Authorizations",
        "partner": "Partner",
        "purpose": "Purpose",
        "status": "Status",
        "expires": "Expires",
        "grant": "Grant",
        "decline": "Decline",
        "revoke": "Revoke",
        "reason": "Reason",
        "inquiries": "Who looked",
        "when": "When",
        "outcome": "Outcome",
        "disputes": "Disputes",
        "record": "Record",
        "file_dispute": "Contest a record",
        "file": "File",
        "due": "Decide by",
        "note": "Operator's note",
        "new_score": "New score",
        "no_score": "Not enough data to score you yet.",
        "none": "None yet.",
        "repair": "Overdue repair",
        "repair_intro": (
            "An overdue bill you have repaid in full can be repaired: it then weighs less in "
            "your score, and you get one extra refresh."
        ),
        "repairable": "Bills you can ask to repair",
        "no_repairable": "No repaid overdue bill to repair.",
        "bill": "Bill",
        "due_date": "Due",
        "amount": "Amount",
        "days_late": "Days late",
        "repaid_on": "Repaid on",
        "repair_button": "Repair",
        "repair_label": "Repair bill {event_id}",
        "my_repairs": "My repair requests",
        "asked": "Asked",
        "extra_refresh": "Extra refresh",
        "available": "available",
        "used": "used",
        "refresh": "Refresh my score",
        "refreshed": "Your score was refreshed: {score}.",
        "partner_console": "Partner console",
        "api_key": "Partner key",
        "ask": "Ask for authorization",
        "user_id": "Person's id",
        "scope": "Scope",
        "days": "Days",
        "read": "Read score",
        "decide": "Decision",
        "result": "Result",
        "operator_console": "Operator console",
        "operator_token": "Operator token",
        "queue": "Dispute queue",
        "late": "late",
        "uphold_void": "Uphold (void the record)",
        "reject": "Reject",
        "models": "Models",
        "monitoring": "Monitoring",
        "monitoring_intro": "Drift of the score and of every feature month over month, band "
        "migration, AUC and KS of matured vintages: the report of `pentascore report`, "
        "computed from the monthly runs when you open it.",
        "open_monitoring": "Open the monitoring report",
        "models_intro": "Cross-validated measures of each registered model (mean over folds).",
        "version": "Version",
        "kind": "Kind",
        "created": "Created",
        "shares": "Learned dimension shares",
        "share_of": "Share: {dimension}",
        "promote": "Promote",
        "promote_label": "Promote {version} to champion",
        "compare": "Compare",
        "first_model": "First model",
        "second_model": "Second model",
        "side_by_side": "Side by side",
        "measure": "Measure",
        "difference": "Second minus first",
        "trained_on": "Trained on",
        "rows": "Rows",
        "bad_rate": "Bad rate",
        "validation": "Validation",
        "folds": "{k} folds x {repeats} repeats, seed {seed}",
        "auc_sd": "AUC sd",
        "brier": "Brier",
        "bands_monotone": "Bands monotone",
        "base": "Base points",
        "features": "Features",
        "allocation": "Allocation",
        "yes": "yes",
        "no": "no",
        "outcome.allowed": "read",
        "outcome.rate_limited": "refused: too many reads",
        "outcome.no_authorization": "refused: no authorization",
        "outcome.authorization_pending": "refused: authorization not yet granted",
        "outcome.authorization_declined": "refused: authorization declined",
        "outcome.authorization_revoked": "refused: authorization revoked",
        "outcome.authorization_expired": "refused: authorization expired",
        "outcome.no_score": "refused: no score yet",
        "type.bill": "bill",
        "type.credit_line": "credit line",
        "type.service_fulfillment": "service fulfilled",
        "type.payment": "payment",
        "type.transfer": "transfer",
        "type.utility_payment": "utility payment",
        "type.charity": "donation",
        "type.asset_snapshot": "assets",
        "type.verification": "verification",
        "type.profile_change": "profile change",
        "type.social_link": "connection",
        "type.security_event": "security event",
        "type.inquiry": "inquiry",
        "status.pending": "pending",
        "status.active": "active",
        "status.declined": "declined",
        "status.revoked": "revoked",
        "status.expired": "expired",
        "status.upheld": "upheld",
        "status.rejected": "rejected",
        "status.repaired": "repaired",
        "status.refused": "refused",
        "status.champion": "champion",
        "status.candidate": "candidate",
        "status.retired": "retired",
        "dimension.credit_history": "Credit history",
        "dimension.behavior_preference": "Behavior",
        "dimension.fulfillment_capacity": "Capacity",
        "dimension.identity_traits": "Identity",
        "dimension.connections": "Connections",
    },
    "zh": {
        "title": "五维信用分",
        "switch": "English",
        "switch_label": "语言和账户",
        "sign_in": "登录",
        "sign_out": "退出",
        "token": "您的访问令牌",
        "my_score": "我的信用分",
        "score_dial": "信用分 {score}，等级 {band}",
        "dimensions": "五个维度",
        "radar": "五维雷达图（0-100）",
        "history": "历史",
        "history_chart": "信用分历史",
        "why": "为什么不更高",
        "points_lost": "损失分数",
        "plan": "如何提分",
        "points": "分",
        "months": "个月",
        "whatif": "假如",
        "predict": "预测",
        "predicted": "{months} 个月后预计 {predicted} 分（范围 {low}-{high}）",
        "authorizations": "授权",
        "partner": "机构",
        "purpose": "用途",
        "status": "状态",
        "expires": "到期",
        "grant": "同意",
        "decline": "拒绝",
        "revoke": "撤销",
        "reason": "理由",
        "inquiries": "查询记录",
        "when": "时间",
        "outcome": "结果",
        "disputes": "异议",
        "record": "记录",
        "file_dispute": "对记录提出异议",
        "file": "提交",
        "due": "处理期限",
        "note": "处理说明",
        "new_score": "新分数",
        "no_score": "数据不足，暂时无法评分。",
        "none": "暂无。",
        "repair": "逾期修复",
        "repair_intro": (
            "已全额还清的逾期账单可以申请修复：修复后它在信用分中的权重降低，"
            "并额外获得一次刷新机会。"
        ),
        "repairable": "可申请修复的账单",
        "no_repairable": "没有可修复的已还清逾期账单。",
        "bill": "账单",
        "due_date": "到期日",
        "amount": "金额",
        "days_late": "逾期天数",
        "repaid_on": "还清日期",
        "repair_button": "修复",
        "repair_label": "修复账单 {event_id}",
        "my_repairs": "我的修复申请",
        "asked": "申请时间",
        "extra_refresh": "额外刷新",
        "available": "可用",
        "used": "已使用",
        "refresh": "刷新我的信用分",
        "refreshed": "信用分已刷新：{score}。",
        "partner_console": "机构控制台",
        "api_key": "机构密钥",
        "ask": "申请授权",
        "user_id": "用户编号",
        "scope": "范围",
        "days": "天数",
        "read": "查询信用分",
        "decide": "决策",
        "result": "结果",
        "operator_console": "运营控制台",
        "operator_token": "运营令牌",
        "queue": "异议队列",
        "late": "已逾期",
        "uphold_void": "支持（作废该记录）",
        "reject": "驳回",
        "models": "模型",
        "monitoring": "监控",
        "monitoring_intro": "评分和每个特征的逐月漂移（PSI）、等级迁移、已到期批次的 AUC 和 KS："
        "即 `pentascore report` 的报告，打开时根据每月运行结果计算。",
        "open_monitoring": "打开监控报告",
        "models_intro": "每个已注册模型的交叉验证指标（各折平均）。",
        "version": "版本",
        "kind": "类型",
        "created": "创建时间",
        "shares": "各维度学习所得占比",
        "share_of": "占比：{dimension}",
        "promote": "设为主模型",
        "promote_label": "将 {version} 设为主模型",
        "compare": "对比",
        "first_model": "模型一",
        "second_model": "模型二",
        "side_by_side": "并排对比",
        "measure": "指标",
        "difference": "模型二减模型一",
        "trained_on": "训练数据",
        "rows": "样本数",
        "bad_rate": "坏样本率",
        "validation": "验证方式",
        "folds": "{k} 折 x {repeats} 次重复，随机种子 {seed}",
        "auc_sd": "AUC 标准差",
        "brier": "Brier 分数",
        "bands_monotone": "等级坏账率单调",
        "base": "基础分",
        "features": "特征数",
        "allocation": "分值分配",
        "yes": "是",
        "no": "否",
        "outcome.allowed": "已查询",
        "outcome.rate_limited": "未获准：查询过于频繁",
        "outcome.no_authorization": "未获准：没有授权",
        "outcome.authorization_pending": "未获准：授权尚未同意",
        "outcome.authorization_declined": "未获准：授权已拒绝",
        "outcome.authorization_revoked": "未获准：授权已撤销",
        "outcome.authorization_expired": "未获准：授权已过期",
        "outcome.no_score": "未获准：尚无信用分",
        "type.bill": "账单",
        "type.credit_line": "信用额度",
        "type.service_fulfillment": "服务履约",
        "type.payment": "支付",
        "type.transfer": "转账",
        "type.utility_payment": "生活缴费",
        "type.charity": "公益捐赠",
        "type.asset_snapshot": "资产",
        "type.verification": "身份验证",
        "type.profile_change": "资料变更",
        "type.social_link": "人脉关系",
        "type.security_event": "安全事件",
        "type.inquiry": "查询记录",
        "status.pending": "待处理",
        "status.active": "有效",
        "status.declined": "已拒绝",
        "status.revoked": "已撤销",
        "status.expired": "已过期",
        "status.upheld": "已支持",
        "status.rejected": "已驳回",
        "status.repaired": "已修复",
        "status.refused": "未获准",
        "status.champion": "主模型",
        "status.candidate": "候选",
        "status.retired": "已退役",
        "dimension.credit_history": "信用历史",
        "dimension.behavior_preference": "行为偏好",
        "dimension.fulfillment_capacity": "履约能力",
        "dimension.identity_traits": "身份特质",
        "dimension.connections": "人脉关系",
    },
}

FEATURE_SENTENCES: dict[str, dict[str, str]] = {
    "en": {spec.name: spec.sentence for spec in CATALOG},
    "zh": {
        "ch_bills_365": "过去 12 个月有 {value} 笔账单到期",
        "ch_late30_365": "过去 12 个月有 {value} 笔账单逾期超过 30 天才还款",
        "ch_late30_90": "过去 3 个月有 {value} 笔账单逾期超过 30 天",
        "ch_late1_180": "过去 6 个月有 {value} 笔账单逾期还款",
        "ch_max_dpd_365": "过去 12 个月有一笔账单逾期 {value} 天",
        "ch_unpaid_overdue": "{value} 笔逾期账单尚未还清",
        "ch_overdue_severity": (
            "逾期记录的权重为 {value}：还清后约每 4 个月减半，修复后再减半，5 年后清零"
        ),
        "ch_on_time_share_365": "过去 12 个月按时还款的账单占比 {value}",
        "ch_fulfilled_365": "12 个月内按时归还或付款的租借和服务 {value} 次",
        "ch_fulfilment_scenarios_365": "12 个月内在 {value} 类场景中守约",
        "ch_fulfilment_defaults_365": "12 个月内租借或服务逾期归还或未付款 {value} 次",
        "ch_inquiries_30": "过去 30 天信用分被查询 {value} 次",
        "ch_inquiries_365": "过去 12 个月信用分被查询 {value} 次",
        "ch_account_age_days": "账户最早的记录距今 {value} 天",
        "bp_payments_90": "过去 3 个月消费 {value} 笔",
        "bp_spend_90": "过去 3 个月消费金额 {value}",
        "bp_categories_180": "过去 6 个月在 {value} 类商户消费",
        "bp_online_share_180": "过去 6 个月网上消费占比 {value}",
        "bp_luxury_share_180": "6 个月内奢侈品和游戏消费占比 {value}",
        "bp_utility_paid_365": "12 个月内按时缴纳水电燃气费 {value} 次",
        "bp_utility_late_365": "12 个月内逾期缴纳水电燃气费 {value} 次",
        "bp_charity_365": "12 个月内公益捐赠或绿色行为 {value} 次",
        "bp_transfers_out_90": "过去 3 个月向他人转账 {value}",
        "fc_assets": "储蓄、理财产品和公积金共 {value}",
        "fc_asset_kinds": "持有 {value} 类资产",
        "fc_open_lines": "{value} 个在用的信贷产品",
        "fc_credit_limit": "在用授信额度共 {value}",
        "fc_utilization": "信用额度使用率 {value}",
        "fc_debt": "在用信贷欠款 {value}",
        "it_real_name": "实名认证：{value}",
        "it_verified_kinds": "学历、工作、车辆和房产中已认证 {value} 项",
        "it_phone_changes_365": "12 个月内更换手机号 {value} 次",
        "it_address_changes_365": "12 个月内更换地址 {value} 次",
        "it_days_since_profile_change": "手机号和地址已 {value} 天未变更",
        "it_security_events_365": "12 个月内异常登录或账户被盗 {value} 次",
        "it_fraud_flags": "账户有 {value} 个欺诈标记",
        "cn_friends": "{value} 位好友",
        "cn_friends_defaulted_share": "12 个月内逾期 90 天以上的好友占比 {value}",
        "cn_friends_flagged": "{value} 位好友被标记为欺诈",
        "cn_friends_mean_score": "好友上月平均信用分：{value}",
        "cn_flagged_transfers_365": "12 个月内与被标记为欺诈的账户转账 {value} 次",
    },
}

ACTION_TEXTS: dict[str, dict[str, str]] = {
    "en": {action.name: action.text for action in ACTIONS.values()},
    "zh": {
        "repay_on_time_3m": "连续 3 个月按时还款",
        "repay_on_time_6m": "连续 6 个月按时还款",
        "pay_utilities_6m": "连续 6 个月缴纳水电燃气费",
        "verify_education": "认证学历",
        "verify_employment": "认证工作",
        "repay_and_repair": "全额还清逾期账单并申请修复",
    },
}

BAND_LABELS: dict[str, dict[str, str]] = {
    "en": {band: band for band in BAND_NAMES},
    "zh": {
        "poor": "较差",
        "fair": "中等",
        "good": "良好",
        "very good": "优秀",
        "excellent": "极好",
    },
}

# The overdue-repair refusals (`pentascore.service.repairs`) in Chinese, by code. Every
# template is given ``amount`` (the policy's largest bill), ``days`` (how late the bill was
# repaid), ``max_days`` (the policy's limit) and ``event_id``.
REFUSALS: dict[str, str] = {
    "not_a_bill": "只有逾期账单可以修复。",
    "never_overdue": "这笔账单从未逾期。",
    "already_repaired": "这笔账单已经修复过了。",
    "not_repaid": "请先全额还清这笔账单，然后才能修复。",
    "over_policy_amount": "按照修复政策，金额超过 {amount} 的账单不能修复。",
    "repaid_too_late": (
        "这笔账单在到期 {days} 天后才还清；修复政策只修复到期后 {max_days} 天内还清的账单。"
    ),
    "refresh_used": "您的信用分本月已刷新过；下次刷新从 {opens} 开始。",
    "no_record": "您没有记录 {event_id}，或它已被作废。",
    "not_found": "您没有这项授权。",
    "not_pending": "只有待处理的授权可以同意或拒绝。",
    "not_active": "只有有效的授权可以撤销。",
    "already_disputed": "这条记录已有一项处理中的异议。",
    "not_enough_data": "数据还不足以为您评分。",
    "no_data": "还没有关于您的任何记录，暂时无法评分。",
}

# The refusals an operator meets deciding a dispute (`pentascore.service.disputes`), by code,
# given ``dispute_id`` and ``detail`` (the service's sentence). In English the service's own
# sentence serves where it speaks to the operator (no such dispute, decided already); where it
# speaks to the person (their record) or gives a detail, the console says it in its own words.
OPERATOR_REFUSALS: dict[str, dict[str, str]] = {
    "en": {
        "no_record": (
            "Dispute {dispute_id} cannot be upheld: its record is no longer current ({detail}). "
            "Reject it instead."
        ),
        "bad_correction": (
            "Dispute {dispute_id} cannot be upheld: the lake refused its correction ({detail})."
        ),
    },
    "zh": {
        "not_found": "没有编号为 {dispute_id} 的异议。",
        "not_pending": "异议 {dispute_id} 已经处理过了。",
        "no_record": "异议 {dispute_id} 无法成立：它所指的记录已被作废或已不存在，请改为驳回。",
        "bad_correction": "异议 {dispute_id} 无法成立：数据湖拒绝了它的更正（{detail}）。",
    },
}


# What a thin file needs (`pentascore.scores.run.ThinFile.missing`), in Chinese; the English
# is `pentascore.scores.run.NEEDS`.
NEEDS_ZH: dict[str, str] = {
    "young": (
        "您最早的记录距今 {age_days} 天；评分需要至少 {min_days} 天前的记录，"
        "您的档案将于 {ready} 满足。"
    ),
    "quiet": (
        "最近 {days} 天内您没有任何记录：从现在起任何一笔还款、支付或账单都会让您的档案恢复为最新。"
    ),
}


def needs_text(thin: ThinFile | None, lang: str) -> list[str]:
    """What a thin file needs, in ``lang`` (nothing without a thin file)."""
    if thin is None:
        return []
    if _language(lang) == "en":
        return thin.needs
    return [NEEDS_ZH[code].format(**params) for code, params in thin.missing]


def translator(lang: str) -> dict[str, str]:
    return MESSAGES[lang if lang in MESSAGES else "en"]


def _language(lang: str) -> str:
    return lang if lang in LANGUAGES else "en"


def format_value(value: float | None, lang: str) -> str:
    """A person's value as reason sentences show it (as `pentascore.explain.reasons` does):
    thousands separated, one decimal unless whole, and "no" (无) when there is none."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "无" if _language(lang) == "zh" else "no"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.1f}"


def reason_text(feature: str, value: float | None, lang: str, fallback: str = "") -> str:
    """The reason sentence of ``feature`` with the person's ``value`` in ``lang``;
    ``fallback`` (the explanation's own English sentence) for a feature without one."""
    sentence = FEATURE_SENTENCES[_language(lang)].get(feature)
    if sentence is None:
        return fallback
    return sentence.format(value=format_value(value, lang))


def action_text(name: str, lang: str, fallback: str = "") -> str:
    return ACTION_TEXTS[_language(lang)].get(name, fallback or name)


def band_label(band: str, lang: str) -> str:
    return BAND_LABELS[_language(lang)].get(band, band)


def refusal_text(code: str, sentence: str, lang: str, **params: Any) -> str:
    """A refusal's sentence in ``lang``: the service's own in English, ours in Chinese (the
    service's when the code has no Chinese yet)."""
    if _language(lang) == "en" or code not in REFUSALS:
        return sentence
    return REFUSALS[code].format_map(_Blank(params))


def operator_refusal_text(code: str, sentence: str, lang: str, **params: Any) -> str:
    """A refusal of an operator's decision on a dispute in ``lang`` (the service's sentence
    where there are no words of our own for its code)."""
    words = OPERATOR_REFUSALS[_language(lang)].get(code)
    if words is None:
        return sentence
    return words.format_map(_Blank({"detail": sentence.rstrip("."), **params}))


class _Blank(dict[str, Any]):
    """Format parameters where a missing one is left empty rather than raising."""

    def __missing__(self, key: str) -> str:
        return ""


# The kinds of code the pages put into words, each with its words in `MESSAGES` under
# ``"<kind>.<code>"``: a status (of an authorization, repair, dispute or model), the outcome of
# a partner's read, and the type of a person's record.
CodeKind = Literal["status", "outcome", "type"]


def word_for(kind: CodeKind, code: str, t: Mapping[str, str]) -> str:
    """The word for a ``kind`` of ``code`` in the language of ``t``; the code itself when it has
    no word."""
    return t.get(f"{kind}.{code}", str(code))
