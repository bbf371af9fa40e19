"""The Chinese texts a household reads, one template per event kind, with the household's masked name."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jifen.kit.timeutil import to_local
from jifen.outbox.repository import Kind

TEMPLATES: dict[str, str] = {
    Kind.award_posted: "{name}户：因“{rule}”加 {amount} 分，已入账。",
    Kind.deduction_posted: "{name}户：因“{rule}”扣 {amount} 分，已入账。",
    Kind.notice_opened: "{name}户：“{rule}” {points} 分正在公示，至 {until} 止；如有异议，请在此前提出。",
    Kind.notice_ended: "{name}户：“{rule}”公示期满，{points} 分已入账。",
    Kind.objection_resolved: "{name}户：对“{rule}”的异议已处理，结果：{outcome}（{points} 分）。",
    Kind.pickup_issued: "{name}户：已在{store}预约兑换 {total} 分，取货码 {code}，请于 {until} 前取货。",
    Kind.pickup_expiring: "{name}户：{store}的预约（取货码 {code}）将于 {until} 过期，请尽快取货。",
    Kind.points_expiring: "{name}户：{total} 积分将于 {until} 后清零，请及时到积分超市兑换。",
    Kind.sale_completed: "{name}户：在{store}兑换 {total} 分（小票 {receipt}），余额 {balance} 分。",
    Kind.sale_cancelled: "{name}户：{store}小票 {receipt} 的兑换已取消，{total} 分已退回。",
}

# what each kind is called on the admin's pages
KIND_NAMES = {
    Kind.award_posted: "加分入账",
    Kind.deduction_posted: "扣分入账",
    Kind.notice_opened: "开始公示",
    Kind.notice_ended: "公示期满入账",
    Kind.objection_resolved: "异议处理结果",
    Kind.pickup_issued: "取货码",
    Kind.pickup_expiring: "取货码将过期",
    Kind.points_expiring: "积分将清零",
    Kind.sale_completed: "兑换",
    Kind.sale_cancelled: "取消兑换",
}

OUTCOMES = {"upheld": "维持原评定", "revised": "修改分值", "revoked": "撤销", "posted": "入账"}


def mask_name(name: str | None) -> str:
    """张*明, 王*, 欧阳**锋: the first and last character, the rest hidden (a single character stays)."""
    if not name:
        return ""
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def _when(value: Any) -> str:
    if not value:
        return ""
    moment = datetime.fromisoformat(str(value))
    return f"{to_local(moment):%m月%d日 %H:%M}"


def params(kind: str, payload: dict[str, Any], head_name: str | None) -> dict[str, str]:
    """The template's values (an SMS provider's template params are these too)."""
    points = payload.get("points")
    return {
        "name": mask_name(head_name),
        "rule": str(payload.get("rule", "")),
        "points": f"{points:+d}" if isinstance(points, int) else "",
        "amount": str(abs(points)) if isinstance(points, int) else "",
        "until": _when(payload.get("notice_until") or payload.get("expires_at")),
        "outcome": OUTCOMES.get(str(payload.get("outcome")), str(payload.get("outcome", ""))),
        "store": str(payload.get("store", "")),
        "code": str(payload.get("code") or ""),
        "total": str(payload.get("total_points", "")),
        "receipt": str(payload.get("receipt_no", "")),
        "balance": str(payload.get("balance_after", "")),
    }


def text(kind: str, values: dict[str, str]) -> str:
    return TEMPLATES.get(kind, "{name}户：积分有变动。").format_map(values)
