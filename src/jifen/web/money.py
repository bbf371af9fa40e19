"""The village admin's money pages: is the store funded (peg, funds received, settlements with the stores),
and when do points expire (清零 policy and who loses how much)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from jifen.expiry import service as expiry
from jifen.expiry.auth import policy_reader, policy_setter, preview_reader
from jifen.expiry.schemas import ExpiryPolicyIn
from jifen.funding import service as funding
from jifen.funding.auth import fund_keeper, funds_keeper, settlement_payer, settlement_reader
from jifen.funding.schemas import FundCreate, FundOut, FundVoid, PegSet, SettlementCreate, SettlementOut
from jifen.kit.db import PageRoute
from jifen.kit.errors import JifenError
from jifen.kit.periods import parse_period, resolve_period
from jifen.kit.timeutil import to_local, utcnow
from jifen.web.admin import Checked, Form, M, admin_access, attempt, checked
from jifen.web.context import CurrentPage, PageContext, go

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


async def _submit(
    form: Checked[M],
    render: Callable[..., Awaitable[Response]],
    act: Callable[[M], Awaitable[object]],
    done: str,
) -> Response:
    """A checked form's change: made, back to `done`; invalid or refused, the page again (422) with each
    error beside its field (a refusal's code → field in the form's `refusals`), what belongs to none in the
    banner."""
    posted = form.posted
    page, values = posted.page, posted.values
    if posted.errors:  # the page's own checks failed: the input model was not asked
        return await render(page, status=422, values=values, errors=posted.errors)
    errors = dict(form.errors)
    problem = errors.pop("_", None)
    if form.body is not None:
        valid = form.body
        refused = await attempt(page, lambda: act(valid))
        if not isinstance(refused, JifenError):
            return go(done)
        field = posted.form.refusals.get(refused.code)
        if field is not None:
            errors[field] = refused.detail
        problem = refused.detail
    return await render(page, status=422, values=values, errors=errors, problem=None if errors else problem)


def _last_month() -> str:
    first = to_local(utcnow()).date().replace(day=1)
    return (first - timedelta(days=1)).strftime("%Y-%m")


async def _funding_page(page: PageContext, *, status: int = 200, **extra: Any) -> Response:
    village = (await admin_access(page)).village
    pegs = await funding.peg_history(page.session, village.id)
    overview = await funding.village_funding(page.session, village, pegs.current)
    funds = await funding.list_funds(
        page.session,
        village.id,
        source=None,
        received_from=None,
        received_to=None,
        include_voided=True,
        after=None,
        limit=50,
    )
    values = extra.pop("values", {}) or {}
    values.setdefault("received_on", to_local(utcnow()).date().isoformat())
    values.setdefault("fen_per_point", str(overview.peg.fen_per_point))
    return page.render(
        "admin_funding.html",
        status=status,
        title="资金与结算",
        o=overview,
        funds=funds,
        pegs=pegs,
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
FUND_FIELDS = ("source", "source_name", "amount", "received_on", "note")
FUND_FORM = Form(FundCreate, FUND_FIELDS, {"amount_fen": "amount"}, {"received_in_future": "received_on"})
PEG_FORM = Form(PegSet, ("fen_per_point", "reason"))


@router.get("/admin/funding", response_class=HTMLResponse)
async def show_funding(page: CurrentPage, done: str | None = None) -> Response:
    return await _funding_page(page, flash=DONE.get(done or ""))


def _fund_body(values: dict[str, str], errors: dict[str, str]) -> dict[str, Any]:
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
    body = {k: values[k] for k in ("source", "source_name", "received_on")} | {"amount_fen": fen}
    return body | ({"note": values["note"]} if values["note"] else {})


@router.post("/admin/funding/funds", response_class=HTMLResponse)
async def record_fund(page: CurrentPage) -> Response:
    village = (await admin_access(page)).village
    form = FUND_FORM.read(page)
    return await _submit(
        form.check(_fund_body(form.values, form.errors)),
        _funding_page,
        lambda body: _record_fund(page, village.id, body),
        "/admin/funding?done=fund",
    )


async def _record_fund(page: PageContext, village_id: uuid.UUID, body: FundCreate) -> FundOut:
    access = await funds_keeper(village_id, page.actor, page.session)
    return await page.once(
        village_id,
        body,
        FundOut,
        lambda: funding.record_fund(page.session, page.actor, access.village, body),
    )


@router.post("/admin/funding/funds/{fund_id}/void", response_class=HTMLResponse)
async def void_fund(page: CurrentPage, fund_id: uuid.UUID) -> Response:
    await admin_access(page)
    reason = page.field("reason").strip()
    if not reason:
        return await _funding_page(page, status=422, errors={f"void-{fund_id}": "作废时请写明原因"})
    body, errors = checked(FundVoid, {"reason": reason}, ())
    if body is None:
        return await _funding_page(page, status=422, errors={f"void-{fund_id}": errors["_"]})
    try:
        access = await fund_keeper(fund_id, page.actor, page.session)
        await page.once(
            access.village_id,
            body,
            FundOut,
            lambda: funding.void_fund(
                page.session, page.actor, access.village_id, access.fund_id, reason=body.reason
            ),
        )
    except JifenError as refused:
        await page.undo()
        return await _funding_page(page, status=409, errors={f"void-{fund_id}": refused.detail})
    return go("/admin/funding?done=void")


@router.post("/admin/funding/peg", response_class=HTMLResponse)
async def set_peg(page: CurrentPage) -> Response:
    village = (await admin_access(page)).village
    form = PEG_FORM.read(page)
    values = form.values
    if not re.fullmatch(r"\d{1,7}", values["fen_per_point"]) or int(values["fen_per_point"]) < 1:
        form.errors["fen_per_point"] = "请填每 1 积分值多少分钱（整数），例如 100 表示 1 积分 = 1 元"
    if not values["reason"]:
        form.errors["reason"] = "请写明调整的原因"
    return await _submit(
        form.check(values),
        _funding_page,
        lambda body: _set_peg(page, village.id, body),
        "/admin/funding?done=peg",
    )


async def _set_peg(page: PageContext, village_id: uuid.UUID, body: PegSet) -> None:
    access = await funds_keeper(village_id, page.actor, page.session)
    await funding.set_peg(
        page.session,
        page.actor,
        access.village,
        fen_per_point=body.fen_per_point,
        effective_from=body.effective_from,
        reason=body.reason,
    )


# settlement with a store


async def _settlement_page(
    page: PageContext, store_id: uuid.UUID, period: str, *, status: int = 200, **extra: Any
) -> Response:
    """The store's settlement report for the period; a period nobody can read answers 422 with why."""
    try:
        access = await settlement_reader(store_id, page.actor, page.session)
        report = await funding.settlement_report(
            page.session, access.store, resolve_period(period, None, None)
        )
    except JifenError as refused:
        report = None
        status = 422 if status == 200 else status
        extra.setdefault("problem", refused.detail)
    return page.render_form(
        "admin_settlement.html",
        status=status,
        title=f"结算 · {report.store_name}" if report and status == 200 else "结算",
        r=report,
        period=period,
        store_id=store_id,
        **extra,
    )


@router.get("/admin/stores/{store_id}/settlement", response_class=HTMLResponse)
async def settlement(
    page: CurrentPage, store_id: uuid.UUID, period: str | None = None, done: str | None = None
) -> Response:
    await admin_access(page)
    return await _settlement_page(page, store_id, period or _last_month(), flash=DONE.get(done or ""))


@router.post("/admin/stores/{store_id}/settlement", response_class=HTMLResponse)
async def settle(page: CurrentPage, store_id: uuid.UUID) -> Response:
    await admin_access(page)
    period, note, amount = (page.field(name).strip() for name in ("period", "note", "amount"))
    errors: dict[str, str] = {}
    wanted: dict[str, Any] = {"period": period, "note": note or f"{period} 结算付款"}
    if amount:
        wanted["amount_fen"] = _fen(amount)
        if wanted["amount_fen"] is None:
            errors["amount"] = "金额请填大于 0 的数字，最多两位小数；不填则按报表金额"
    body, invalid = (None, {}) if errors else checked(SettlementCreate, wanted, ())
    errors |= {"amount": invalid["_"]} if invalid else {}
    if body is not None:
        try:
            await _record_settlement(page, store_id, body)
            return go(f"/admin/stores/{store_id}/settlement?period={period}&done=settled")
        except JifenError as refused:
            await page.undo()
            errors = {"amount": refused.detail} if refused.status == 422 else {"_": refused.detail}
    return await _settlement_page(
        page,
        store_id,
        period,
        status=422 if "amount" in errors else 409,
        problem=errors.get("_"),
        errors=errors,
        values={"amount": amount, "note": note},
    )


async def _record_settlement(page: PageContext, store_id: uuid.UUID, body: SettlementCreate) -> SettlementOut:
    access = await settlement_payer(store_id, page.actor, page.session)
    period = parse_period(body.period)
    return await page.once(
        access.store.village_id,
        body,
        SettlementOut,
        lambda: funding.settle(
            page.session, page.actor, access.store, period, amount_fen=body.amount_fen, note=body.note
        ),
    )


# expiry (清零)

MODES = {"none": "不清零", "yearly": "每年固定日期清零", "rolling": "滚动有效期（先得先用）"}
EXPIRY_FIELDS = ("mode", "clearing_date", "carry_over_cap", "months", "reason")
EXPIRY_FORM = Form(ExpiryPolicyIn, EXPIRY_FIELDS)


async def _expiry_page(page: PageContext, *, status: int = 200, **extra: Any) -> Response:
    village_id = (await admin_access(page)).village.id
    await policy_reader(village_id, page.actor, page.session)
    row = await expiry.current_policy(page.session, village_id)
    policy = expiry.policy_out(village_id, row)
    until = to_local(utcnow()).date() + timedelta(days=60)
    await preview_reader(village_id, page.actor, page.session)
    items = (await expiry.preview_page(page.session, village_id, until, None, 200, policy=row)).items
    values = extra.pop("values", None) or {
        "mode": str(policy.mode),
        "clearing_date": policy.clearing_date or "12-31",
        "carry_over_cap": "" if policy.carry_over_cap is None else str(policy.carry_over_cap),
        "months": str(policy.months or 12),
    }
    return page.render(
        "admin_expiry.html",
        status=status,
        title="积分清零",
        policy=policy,
        items=items,
        total=sum(i.amount for i in items),
        until=until.isoformat(),
        modes=MODES,
        values=values,
        errors=extra.pop("errors", {}) or {},
        **extra,
    )


@router.get("/admin/expiry", response_class=HTMLResponse)
async def show_expiry(page: CurrentPage, done: str | None = None) -> Response:
    return await _expiry_page(page, flash="已保存清零规则" if done else None)


def _expiry_body(values: dict[str, str], errors: dict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {"mode": values["mode"], "reason": values["reason"]}
    if values["mode"] not in MODES:
        errors["mode"] = "请选择一种清零方式"
    if not values["reason"]:
        errors["reason"] = "请写明原因（例如村民代表大会决议）"
    if values["mode"] == "yearly":
        body["clearing_date"] = values["clearing_date"]
        if values["carry_over_cap"] and not values["carry_over_cap"].isdigit():
            errors["carry_over_cap"] = "结转上限请填整数，不填表示全部清零"
        elif values["carry_over_cap"]:
            body["carry_over_cap"] = int(values["carry_over_cap"])
    if values["mode"] == "rolling":
        if not values["months"].isdigit():
            errors["months"] = "有效期请填 1 到 120 的整数（月）"
        else:
            body["months"] = int(values["months"])
    return body


@router.post("/admin/expiry", response_class=HTMLResponse)
async def set_expiry(page: CurrentPage) -> Response:
    village_id = (await admin_access(page)).village.id
    form = EXPIRY_FORM.read(page)
    return await _submit(
        form.check(_expiry_body(form.values, form.errors)),
        _expiry_page,
        lambda body: _set_policy(page, village_id, body),
        "/admin/expiry?done=1",
    )


async def _set_policy(page: PageContext, village_id: uuid.UUID, body: ExpiryPolicyIn) -> None:
    access = await policy_setter(village_id, page.actor, page.session)
    change = expiry.PolicyChange(
        mode=body.mode,
        clearing_date=body.clearing_date,
        carry_over_cap=body.carry_over_cap,
        months=body.months,
    )
    await expiry.set_policy(page.session, page.actor, access.village.id, change, reason=body.reason)
