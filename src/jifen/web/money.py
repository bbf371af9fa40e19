"""The village admin's money pages: is the store funded (peg, funds received, settlements with the stores),
and when do points expire (清零 policy and who loses how much)."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from jifen.kit.db import PageRoute
from jifen.kit.timeutil import to_local, utcnow
from jifen.web.admin import _admin
from jifen.web.context import CurrentPage, Page, form_key, go

router = APIRouter(include_in_schema=False, route_class=PageRoute)

SOURCES = {"collective": "村集体", "donor": "捐赠", "town": "镇里拨款", "other": "其他"}


def _fen(text: str) -> int | None:
    """Yuan as typed (12, 12.5, ¥12.50) → fen; None when it is not an amount."""
    cleaned = text.replace("¥", "").replace("￥", "").replace("元", "").replace(",", "").strip()
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        return None
    if amount != amount.quantize(Decimal("0.01")) or amount <= 0:
        return None
    return int(amount * 100)


def _last_month() -> str:
    first = to_local(utcnow()).date().replace(day=1)
    return (first - timedelta(days=1)).strftime("%Y-%m")


async def _funding_page(page: Page, *, status: int = 200, **extra: Any) -> Response:
    village = _admin(page)
    overview = await page.must(await page.api.get(f"/villages/{village}/funding"))
    funds = await page.api.get(f"/villages/{village}/funds", limit=50)
    pegs = await page.api.get(f"/villages/{village}/peg")
    values = extra.pop("values", {}) or {}
    values.setdefault("received_on", to_local(utcnow()).date().isoformat())
    values.setdefault("fen_per_point", str(overview["peg"]["fen_per_point"]))
    return page.render(
        "admin_funding.html",
        status=status,
        title="资金与结算",
        o=overview,
        funds=funds.body.get("items", []) if funds.ok else [],
        pegs=pegs.body if pegs.ok else None,
        sources=SOURCES,
        last_month=_last_month(),
        values=values,
        errors=extra.pop("errors", {}) or {},
        **extra,
    )


DONE = {
    "fund": "已登记这笔资金",
    "void": "已作废这笔资金记录",
    "peg": "已调整积分价值",
    "settled": "已登记向超市付款",
}


@router.get("/admin/funding", response_class=HTMLResponse)
async def funding(page: CurrentPage, done: str | None = None) -> Response:
    return await _funding_page(page, flash=DONE.get(done or ""))


@router.post("/admin/funding/funds", response_class=HTMLResponse)
async def record_fund(page: CurrentPage) -> Response:
    village = _admin(page)
    form = await page.request.form()
    values = {
        k: str(form.get(k) or "").strip() for k in ("source", "source_name", "amount", "received_on", "note")
    }
    errors: dict[str, str] = {}
    if values["source"] not in SOURCES:
        errors["source"] = "请选择资金来源"
    if not values["source_name"]:
        errors["source_name"] = "请写明是谁拨付或捐赠的"
    fen = _fen(values["amount"])
    if fen is None:
        errors["amount"] = "金额请填大于 0 的数字，最多两位小数，例如 2000 或 1500.50"
    try:
        date.fromisoformat(values["received_on"])
    except ValueError:
        errors["received_on"] = "日期格式应为 2026-11-22"
    if errors:
        return await _funding_page(page, status=422, values=values, errors=errors)
    body: dict[str, Any] = {
        "source": values["source"],
        "source_name": values["source_name"],
        "amount_fen": fen,
        "received_on": values["received_on"],
    }
    if values["note"]:
        body["note"] = values["note"]
    result = await page.api.post(f"/villages/{village}/funds", body, key=form_key(form))
    if result.ok:
        return go("/admin/funding?done=fund")
    field_errors = result.field_errors()
    if "amount_fen" in field_errors:
        field_errors["amount"] = field_errors.pop("amount_fen")
    if result.error == "received_in_future":
        field_errors["received_on"] = result.detail
    return await _funding_page(
        page, status=422, values=values, errors=field_errors, problem=None if field_errors else result.detail
    )


@router.post("/admin/funding/funds/{fund_id}/void", response_class=HTMLResponse)
async def void_fund(page: CurrentPage, fund_id: str) -> Response:
    _admin(page)
    form = await page.request.form()
    reason = str(form.get("reason") or "").strip()
    if not reason:
        return await _funding_page(page, status=422, errors={f"void-{fund_id}": "作废时请写明原因"})
    result = await page.api.post(f"/funds/{fund_id}/void", {"reason": reason})
    if result.ok:
        return go("/admin/funding?done=void")
    return await _funding_page(page, status=409, errors={f"void-{fund_id}": result.detail})


@router.post("/admin/funding/peg", response_class=HTMLResponse)
async def set_peg(page: CurrentPage) -> Response:
    village = _admin(page)
    form = await page.request.form()
    values = {k: str(form.get(k) or "").strip() for k in ("fen_per_point", "reason")}
    errors: dict[str, str] = {}
    if not re.fullmatch(r"\d{1,7}", values["fen_per_point"]) or int(values["fen_per_point"]) < 1:
        errors["fen_per_point"] = "请填每 1 积分值多少分钱（整数），例如 100 表示 1 积分 = 1 元"
    if not values["reason"]:
        errors["reason"] = "请写明调整的原因"
    if errors:
        return await _funding_page(page, status=422, values=values, errors=errors)
    result = await page.api.call(
        "PUT",
        f"/villages/{village}/peg",
        json={"fen_per_point": int(values["fen_per_point"]), "reason": values["reason"]},
    )
    if result.ok:
        return go("/admin/funding?done=peg")
    field_errors = result.field_errors()
    return await _funding_page(
        page, status=422, values=values, errors=field_errors, problem=None if field_errors else result.detail
    )


@router.get("/admin/stores/{store_id}/settlement", response_class=HTMLResponse)
async def settlement(
    page: CurrentPage, store_id: str, period: str | None = None, done: str | None = None
) -> Response:
    _admin(page)
    period = period or _last_month()
    report = await page.api.get(f"/stores/{store_id}/settlement", period=period)
    if not report.ok:
        return page.render(
            "admin_settlement.html",
            status=422,
            title="结算",
            r=None,
            period=period,
            store_id=store_id,
            problem=report.detail,
            errors={},
            values={},
        )
    return page.render(
        "admin_settlement.html",
        title=f"结算 · {report.body['store_name']}",
        r=report.body,
        period=period,
        store_id=store_id,
        flash=DONE.get(done or ""),
        errors={},
        values={},
    )


@router.post("/admin/stores/{store_id}/settlement", response_class=HTMLResponse)
async def settle(page: CurrentPage, store_id: str) -> Response:
    _admin(page)
    form = await page.request.form()
    period = str(form.get("period") or "").strip()
    note = str(form.get("note") or "").strip()
    amount = str(form.get("amount") or "").strip()
    errors: dict[str, str] = {}
    body: dict[str, Any] = {"period": period, "note": note or f"{period} 结算付款"}
    if amount:
        fen = _fen(amount)
        if fen is None:
            errors["amount"] = "金额请填大于 0 的数字，最多两位小数；不填则按报表金额"
        body["amount_fen"] = fen
    if not errors:
        result = await page.api.post(f"/stores/{store_id}/settlements", body)
        if result.ok:
            return go(f"/admin/stores/{store_id}/settlement?period={period}&done=settled")
        errors = {"amount": result.detail} if result.status == 422 else {"_": result.detail}
    report = await page.api.get(f"/stores/{store_id}/settlement", period=period)
    return page.render(
        "admin_settlement.html",
        status=422 if "amount" in errors else 409,
        title="结算",
        r=report.body if report.ok else None,
        period=period,
        store_id=store_id,
        problem=errors.get("_"),
        errors=errors,
        values={"amount": amount, "note": note},
    )


# expiry (清零)

MODES = {"none": "不清零", "yearly": "每年固定日期清零", "rolling": "滚动有效期（先得先用）"}


async def _expiry_page(page: Page, *, status: int = 200, **extra: Any) -> Response:
    village = _admin(page)
    policy = await page.must(await page.api.get(f"/villages/{village}/expiry-policy"))
    until = (to_local(utcnow()).date() + timedelta(days=60)).isoformat()
    preview = await page.api.get(f"/villages/{village}/expiry/preview", until=until, limit=200)
    items = preview.body.get("items", []) if preview.ok else []
    values = extra.pop("values", None) or {
        "mode": policy["mode"],
        "clearing_date": policy.get("clearing_date") or "12-31",
        "carry_over_cap": "" if policy.get("carry_over_cap") is None else str(policy["carry_over_cap"]),
        "months": str(policy.get("months") or 12),
    }
    return page.render(
        "admin_expiry.html",
        status=status,
        title="积分清零",
        policy=policy,
        items=items,
        total=sum(i["amount"] for i in items),
        until=until,
        modes=MODES,
        values=values,
        errors=extra.pop("errors", {}) or {},
        **extra,
    )


@router.get("/admin/expiry", response_class=HTMLResponse)
async def expiry(page: CurrentPage, done: str | None = None) -> Response:
    return await _expiry_page(page, flash="已保存清零规则" if done else None)


@router.post("/admin/expiry", response_class=HTMLResponse)
async def set_expiry(page: CurrentPage) -> Response:
    village = _admin(page)
    form = await page.request.form()
    values = {
        k: str(form.get(k) or "").strip()
        for k in ("mode", "clearing_date", "carry_over_cap", "months", "reason")
    }
    errors: dict[str, str] = {}
    body: dict[str, Any] = {"mode": values["mode"], "reason": values["reason"]}
    if values["mode"] not in MODES:
        errors["mode"] = "请选择一种清零方式"
    if not values["reason"]:
        errors["reason"] = "请写明原因（例如村民代表大会决议）"
    if values["mode"] == "yearly":
        body["clearing_date"] = values["clearing_date"]
        if values["carry_over_cap"]:
            if not values["carry_over_cap"].isdigit():
                errors["carry_over_cap"] = "结转上限请填整数，不填表示全部清零"
            else:
                body["carry_over_cap"] = int(values["carry_over_cap"])
    if values["mode"] == "rolling":
        if not values["months"].isdigit():
            errors["months"] = "有效期请填 1 到 120 的整数（月）"
        else:
            body["months"] = int(values["months"])
    if errors:
        return await _expiry_page(page, status=422, values=values, errors=errors)
    result = await page.api.call("PUT", f"/villages/{village}/expiry-policy", json=body)
    if result.ok:
        return go("/admin/expiry?done=1")
    field_errors = result.field_errors()
    return await _expiry_page(
        page, status=422, values=values, errors=field_errors, problem=None if field_errors else result.detail
    )
