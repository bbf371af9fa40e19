"""The villager's pages: the household's points first, its history, the store, reporting a good deed, and a
printable household card for family members without a phone."""

from __future__ import annotations

from typing import Any

import segno
from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from jifen.web.context import CurrentPage, Page, PageRefused, go
from jifen.web.routes import this_month

router = APIRouter(include_in_schema=False)


def _household(page: Page) -> str:
    page.need("villager")
    household = page.household_id
    if household is None:
        raise PageRefused(404, "您的账号还没有绑定农户，请联系村管理员")
    return household


def qr_svg(text: str, scale: int = 6) -> Markup:
    """A QR code as inline SVG (no image request, prints sharp)."""
    return Markup(segno.make(text, error="m").svg_inline(scale=scale, border=2))


async def _rank(page: Page, household: str) -> dict[str, Any] | None:
    ranked = await page.api.get(f"/villages/{page.village_id}/rankings", period=this_month())
    if not ranked.ok:
        return None
    items = ranked.body["items"]
    for entry in items:
        if entry["household_id"] == household:
            return {"rank": entry["rank"], "of": len(items), "points": entry["points"]}
    return None


@router.get("/me", response_class=HTMLResponse)
async def me(page: CurrentPage) -> Response:
    household_id = _household(page)
    household = await page.must(await page.api.get(f"/households/{household_id}"))
    entries = await page.must(await page.api.get(f"/households/{household_id}/entries", limit=5))
    reservations = await page.api.get(f"/households/{household_id}/reservations", limit=5)
    active = (
        [r for r in reservations.body.get("items", []) if r["status"] == "active"] if reservations.ok else []
    )
    return page.render(
        "me.html",
        title="我的积分",
        household=household,
        balance=household["balance"],
        rank=await _rank(page, household_id),
        month=this_month(),
        entries=entries["items"],
        reservations=active,
    )


@router.get("/me/history", response_class=HTMLResponse)
async def history(page: CurrentPage, cursor: str | None = None) -> Response:
    household_id = _household(page)
    entries = await page.must(
        await page.api.get(f"/households/{household_id}/entries", cursor=cursor, limit=30)
    )
    return page.render(
        "history.html", title="积分明细", entries=entries["items"], next=entries["next_cursor"]
    )


async def _catalogue(page: Page) -> list[dict[str, Any]]:
    stores = await page.must(await page.api.get(f"/villages/{page.village_id}/stores"))
    out = []
    for store in stores["items"]:
        if not store["active"]:
            continue
        items = await page.api.get(f"/stores/{store['id']}/items", limit=200)
        active = [i for i in items.body.get("items", []) if i["active"]] if items.ok else []
        out.append({"store": store, "items": active})
    return out


@router.get("/me/store", response_class=HTMLResponse)
async def store(page: CurrentPage) -> Response:
    household_id = _household(page)
    balance = await page.must(await page.api.get(f"/households/{household_id}/balance"))
    return page.render(
        "store.html", title="积分超市", catalogue=await _catalogue(page), balance=balance, errors={}
    )


@router.post("/me/store/reserve", response_class=HTMLResponse)
async def reserve(page: CurrentPage) -> Response:
    household_id = _household(page)
    form = await page.request.form()
    item_id = str(form.get("item_id") or "")
    store_id = str(form.get("store_id") or "")
    result = await page.api.post(
        "/reservations",
        {"store_id": store_id, "household_id": household_id, "lines": [{"item_id": item_id, "quantity": 1}]},
        key=f"web-{form.get('idempotency_key')}",
    )
    if result.ok:
        return go(f"/me/reservations/{result.body['id']}")
    balance = await page.must(await page.api.get(f"/households/{household_id}/balance"))
    return page.render(
        "store.html",
        status=409 if result.status == 409 else 422,
        title="积分超市",
        catalogue=await _catalogue(page),
        balance=balance,
        errors={item_id: result.detail},
    )


@router.get("/me/reservations/{reservation_id}", response_class=HTMLResponse)
async def reservation(page: CurrentPage, reservation_id: str) -> Response:
    _household(page)
    found = await page.must(await page.api.get(f"/reservations/{reservation_id}"))
    return page.render("reservation.html", title="预约兑换", r=found, qr=qr_svg(found["qr_payload"]))


@router.get("/me/card", response_class=HTMLResponse)
async def card(page: CurrentPage) -> Response:
    household_id = _household(page)
    household = await page.must(await page.api.get(f"/households/{household_id}"))
    return page.render("card.html", title="户卡", household=household, qr=qr_svg(household["code"], scale=8))
