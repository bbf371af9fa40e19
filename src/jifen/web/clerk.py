"""The clerk's counter: type or scan the household code, see the balance, fill the basket, confirm once,
print the receipt; redeem a pickup code; cancel a sale with a reason."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from jifen.auth.actor import VILLAGE_USERS
from jifen.auth.dependencies import authorize
from jifen.auth.households import household_lister, read_household
from jifen.households import service as households
from jifen.kit.db import PageRoute
from jifen.kit.errors import JifenError
from jifen.kit.timeutil import to_local, utcnow
from jifen.store import reservations, sales
from jifen.store import service as store_service
from jifen.store.auth import (
    authorize_store_staff,
    cashier,
    code_redeemer,
    is_village_admin,
    redemption_canceller,
    redemption_reader,
    store_reader,
)
from jifen.store.repository import StoreLine
from jifen.store.schemas import RedemptionCancel, RedemptionCreate, RedemptionOut, ReservationRedeem
from jifen.web.context import CurrentPage, PageContext, PageRefused, go, parse

router = APIRouter(include_in_schema=False, route_class=PageRoute)

CLERKS = ("clerk", "village_admin")


async def _store(page: PageContext) -> StoreLine:
    """The clerk's own store; a village admin at the counter uses the first open store (or ?store=)."""
    page.need(*CLERKS)
    # the API's check for anyone of the village, without reading the village: the counter needs its id only
    # (one of the villages the page's header lists)
    authorize(page.actor, page.village_id, VILLAGE_USERS, town_admin=True)
    stores = await store_service.list_stores(page.session, page.village_id)
    mine = {g.store_id for g in page.grants("clerk")}
    wanted = page.request.query_params.get("store")
    candidates = [s for s in stores if s.id in mine or page.has("village_admin")]
    for store in candidates:
        if wanted and str(store.id) == wanted:
            return store
    if not candidates:
        raise PageRefused(403, "您还没有被分配到任何积分超市")
    open_ones = [s for s in candidates if s.active]
    return (open_ones or candidates)[0]


@router.get("/counter", response_class=HTMLResponse)
async def counter(page: CurrentPage, code: str | None = None) -> Response:
    store = await _store(page)
    errors: dict[str, str] = {}
    if code is not None:
        code = code.strip().upper()
        if not code:
            errors["code"] = "请输入或扫描户号"
        else:
            access = await household_lister(page.village_id, page.actor, page.session)
            found = await households.households_page(
                page.session, access, q=code, grid=None, cursor=None, limit=20
            )
            exact = [h for h in found.items if h.code.upper() == code]
            if exact:
                return go(f"/counter/h/{exact[0].id}")
            errors["code"] = f"没有找到户号为 {code} 的农户，请核对户卡"
    return page.render(
        "counter.html",
        status=422 if errors else 200,
        title="收银台",
        store=store,
        errors=errors,
        values={"code": code or ""},
    )


async def _basket_page(
    page: PageContext,
    household_id: uuid.UUID,
    *,
    status: int = 200,
    values: dict[str, str] | None = None,
    problem: str | None = None,
    errors: dict[str, str] | None = None,
) -> Response:
    store = await _store(page)
    household = await households.household_out(
        page.session, await read_household(household_id, page.actor, page.session)
    )
    shelf = await store_reader(store.id, page.actor, page.session)
    items = await store_service.list_items(
        page.session, shelf.store, after=None, limit=200, active_only=False
    )
    return page.render(
        "basket.html",
        status=status,
        title="收银台",
        store=store,
        household=household,
        items=[i for i in items if i.active],
        values=values or {},
        problem=problem,
        errors=errors or {},
    )


@router.get("/counter/h/{household_id}", response_class=HTMLResponse)
async def basket(page: CurrentPage, household_id: uuid.UUID) -> Response:
    return await _basket_page(page, household_id)


def _lines(page: PageContext) -> tuple[list[dict[str, Any]], dict[str, str], dict[str, str]]:
    """The basket's lines, what was typed for each item, and the quantities that are not a count."""
    lines: list[dict[str, Any]] = []
    values: dict[str, str] = {}
    errors: dict[str, str] = {}
    for name, raw in page.form.multi_items() if page.form else []:
        if not name.startswith("q-"):
            continue
        text = str(raw).strip()
        values[name] = text
        if text in ("", "0"):
            continue
        if not text.isdigit() or not 1 <= int(text) <= 999:
            errors[name] = "数量请填 0 到 999 的整数"
            continue
        lines.append({"item_id": name[2:], "quantity": int(text)})
    return lines, values, errors


@router.post("/counter/h/{household_id}", response_class=HTMLResponse)
async def confirm(page: CurrentPage, household_id: uuid.UUID) -> Response:
    store = await _store(page)
    lines, values, errors = _lines(page)
    if errors:
        return await _basket_page(page, household_id, status=422, values=values, errors=errors)
    if not lines:
        return await _basket_page(page, household_id, status=422, values=values, problem="请至少选择一件商品")
    body, invalid = parse(
        RedemptionCreate, {"store_id": store.id, "household_id": household_id, "lines": lines}
    )
    if body is None:
        problem = "；".join(invalid.values())
        return await _basket_page(page, household_id, status=422, values=values, problem=problem)
    try:
        access = await cashier(body, page.actor, page.session)

        async def produce() -> RedemptionOut:
            household = await store_service.find_household(
                page.session, access.store, household_id=body.household_id, code=body.household_code
            )
            return await store_service.redeem(page.session, access.actor, access.store, household, body.lines)

        sold = await page.once(access.store.village_id, body, RedemptionOut, produce)
    except JifenError as refused:
        await page.undo()
        item_id = refused.extra.get("item_id")
        return await _basket_page(
            page,
            household_id,
            status=409 if refused.status == 409 else 422,
            values=values,
            problem=refused.detail,
            errors={f"q-{item_id}": refused.detail} if item_id else {},
        )
    return go(f"/counter/receipts/{sold.id}")


async def _receipt(page: PageContext, redemption_id: uuid.UUID) -> RedemptionOut:
    access = await redemption_reader(redemption_id, page.actor, page.session)
    balance = await store_service.household_balance(page.session, access.redemption)
    return await store_service.redemption_out(page.session, access.redemption, balance)


@router.get("/counter/receipts/{redemption_id}", response_class=HTMLResponse)
async def receipt(page: CurrentPage, redemption_id: uuid.UUID, done: str | None = None) -> Response:
    page.need(*CLERKS)
    found = await _receipt(page, redemption_id)
    return page.render(
        "receipt.html",
        title=f"小票 {found.receipt_no}",
        r=found,
        errors={},
        values={},
        flash="已撤销，积分和商品已退回" if done == "cancelled" else None,
    )


@router.post("/counter/receipts/{redemption_id}/cancel", response_class=HTMLResponse)
async def cancel(page: CurrentPage, redemption_id: uuid.UUID) -> Response:
    page.need(*CLERKS)
    reason = page.field("reason").strip()
    body, errors = parse(RedemptionCancel, {"reason": reason})
    if not reason:
        errors = {"reason": "请写明撤销的原因"}
    problem = None
    if body is not None:
        try:
            access = await redemption_canceller(redemption_id, page.actor, page.session)
            await page.once(
                access.store.village_id,
                body,
                RedemptionOut,
                lambda: store_service.cancel(
                    page.session,
                    access.actor,
                    access.store,
                    access.redemption.id,
                    reason=body.reason,
                    as_admin=is_village_admin(access.actor, access.store.village_id),
                ),
            )
            return go(f"/counter/receipts/{redemption_id}?done=cancelled")
        except JifenError as refused:
            await page.undo()
            problem = refused.detail
    found = await _receipt(page, redemption_id)
    return page.render(
        "receipt.html",
        status=422 if errors else 409,
        title=f"小票 {found.receipt_no}",
        r=found,
        errors=errors,
        values={"reason": reason},
        problem=problem,
    )


@router.get("/counter/pickup", response_class=HTMLResponse)
async def pickup(page: CurrentPage) -> Response:
    store = await _store(page)
    return page.render("pickup.html", title="预约核销", store=store, errors={}, values={})


@router.post("/counter/pickup", response_class=HTMLResponse)
async def redeem_pickup(page: CurrentPage) -> Response:
    store = await _store(page)
    code = page.field("code").strip()
    body, _ = parse(ReservationRedeem, {"store_id": store.id, "code": code})
    errors = {"code": "取货码是 6 位数字"}
    if body is not None:
        try:
            access = await code_redeemer(body, page.actor, page.session)
            sold = await page.once(
                access.store.village_id,
                body,
                RedemptionOut,
                lambda: reservations.redeem_code(page.session, access.actor, access.store, body.code),
            )
            return go(f"/counter/receipts/{sold.id}")
        except JifenError as refused:
            await page.undo()
            errors = {"code": refused.detail}
    return page.render(
        "pickup.html", status=422, title="预约核销", store=store, errors=errors, values={"code": code}
    )


@router.get("/counter/sales", response_class=HTMLResponse)
async def sales_today(page: CurrentPage, cursor: str | None = None) -> Response:
    store = await _store(page)
    # the store is loaded: the sales list's own check on it, without reading it again
    authorize_store_staff(page.actor, store, town_admin=False)
    midnight = to_local(utcnow()).replace(hour=0, minute=0, second=0, microsecond=0)
    found = await sales.sales_page(page.session, store, midnight, cursor, 50)
    return page.render("sales.html", title="今日兑换", store=store, listed=found)
