"""The clerk's counter: type or scan the household code, see the balance, fill the basket, confirm once,
print the receipt; redeem a pickup code; cancel a sale with a reason."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from jifen.kit.db import AutoCommitRoute
from jifen.kit.timeutil import to_local, utcnow
from jifen.web.context import CurrentPage, Page, PageRefused, form_key, go

router = APIRouter(include_in_schema=False, route_class=AutoCommitRoute)

CLERKS = ("clerk", "village_admin")


async def _store(page: Page) -> dict[str, Any]:
    """The clerk's own store; a village admin at the counter uses the first open store (or ?store=)."""
    page.need(*CLERKS)
    stores = await page.must(await page.api.get(f"/villages/{page.village_id}/stores"))
    mine = {g.get("store_id") for g in page.grants("clerk")}
    wanted = page.request.query_params.get("store")
    candidates = [s for s in stores["items"] if (s["id"] in mine or page.has("village_admin"))]
    for store in candidates:
        if wanted and store["id"] == wanted:
            return dict(store)
    if not candidates:
        raise PageRefused(403, "您还没有被分配到任何积分超市")
    open_ones = [s for s in candidates if s["active"]]
    return dict((open_ones or candidates)[0])


@router.get("/counter", response_class=HTMLResponse)
async def counter(page: CurrentPage, code: str | None = None) -> Response:
    store = await _store(page)
    errors: dict[str, str] = {}
    if code is not None:
        code = code.strip().upper()
        if not code:
            errors["code"] = "请输入或扫描户号"
        else:
            found = await page.api.get(f"/villages/{page.village_id}/households", q=code, limit=20)
            exact = [h for h in found.body.get("items", []) if h["code"].upper() == code] if found.ok else []
            if exact:
                return go(f"/counter/h/{exact[0]['id']}")
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
    page: Page,
    household_id: str,
    *,
    status: int = 200,
    values: dict[str, str] | None = None,
    problem: str | None = None,
    errors: dict[str, str] | None = None,
) -> Response:
    store = await _store(page)
    household = await page.must(await page.api.get(f"/households/{household_id}"))
    items = await page.must(await page.api.get(f"/stores/{store['id']}/items", limit=200))
    return page.render(
        "basket.html",
        status=status,
        title="收银台",
        store=store,
        household=household,
        items=[i for i in items["items"] if i["active"]],
        values=values or {},
        problem=problem,
        errors=errors or {},
    )


@router.get("/counter/h/{household_id}", response_class=HTMLResponse)
async def basket(page: CurrentPage, household_id: str) -> Response:
    return await _basket_page(page, household_id)


@router.post("/counter/h/{household_id}", response_class=HTMLResponse)
async def confirm(page: CurrentPage, household_id: str) -> Response:
    store = await _store(page)
    form = await page.request.form()
    values: dict[str, str] = {}
    lines = []
    errors: dict[str, str] = {}
    for name, raw in form.multi_items():
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
    if errors:
        return await _basket_page(page, household_id, status=422, values=values, errors=errors)
    if not lines:
        return await _basket_page(page, household_id, status=422, values=values, problem="请至少选择一件商品")
    result = await page.api.post(
        "/redemptions",
        {"store_id": store["id"], "household_id": household_id, "lines": lines},
        key=form_key(form),
    )
    if result.ok:
        return go(f"/counter/receipts/{result.body['id']}")
    item_errors = {}
    if isinstance(result.body, dict) and result.body.get("item_id"):
        item_errors[f"q-{result.body['item_id']}"] = result.detail
    return await _basket_page(
        page,
        household_id,
        status=409 if result.status == 409 else 422,
        values=values,
        problem=result.detail,
        errors=item_errors,
    )


@router.get("/counter/receipts/{redemption_id}", response_class=HTMLResponse)
async def receipt(page: CurrentPage, redemption_id: str, done: str | None = None) -> Response:
    page.need(*CLERKS)
    found = await page.must(await page.api.get(f"/redemptions/{redemption_id}"))
    return page.render(
        "receipt.html",
        title=f"小票 {found['receipt_no']}",
        r=found,
        errors={},
        values={},
        flash="已撤销，积分和商品已退回" if done == "cancelled" else None,
    )


@router.post("/counter/receipts/{redemption_id}/cancel", response_class=HTMLResponse)
async def cancel(page: CurrentPage, redemption_id: str) -> Response:
    page.need(*CLERKS)
    form = await page.request.form()
    reason = str(form.get("reason") or "").strip()
    errors: dict[str, str] = {}
    problem = None
    if not reason:
        errors["reason"] = "请写明撤销的原因"
    else:
        result = await page.api.post(
            f"/redemptions/{redemption_id}/cancel",
            {"reason": reason},
            key=form_key(form),
        )
        if result.ok:
            return go(f"/counter/receipts/{redemption_id}?done=cancelled")
        errors = result.field_errors()
        problem = None if errors else result.detail
    found = await page.must(await page.api.get(f"/redemptions/{redemption_id}"))
    return page.render(
        "receipt.html",
        status=422 if errors else 409,
        title=f"小票 {found['receipt_no']}",
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
    form = await page.request.form()
    code = str(form.get("code") or "").strip()
    errors: dict[str, str] = {}
    if not (code.isdigit() and len(code) == 6):
        errors["code"] = "取货码是 6 位数字"
    else:
        result = await page.api.post(
            "/reservations/redeem",
            {"store_id": store["id"], "code": code},
            key=form_key(form),
        )
        if result.ok:
            return go(f"/counter/receipts/{result.body['id']}")
        errors["code"] = result.detail
    return page.render(
        "pickup.html", status=422, title="预约核销", store=store, errors=errors, values={"code": code}
    )


@router.get("/counter/sales", response_class=HTMLResponse)
async def sales(page: CurrentPage, cursor: str | None = None) -> Response:
    store = await _store(page)
    local = to_local(utcnow()).replace(hour=0, minute=0, second=0, microsecond=0)
    found = await page.must(
        await page.api.get(
            f"/stores/{store['id']}/redemptions", since=local.isoformat(), cursor=cursor, limit=50
        )
    )
    return page.render(
        "sales.html", title="今日兑换", store=store, items=found["items"], next=found["next_cursor"]
    )
