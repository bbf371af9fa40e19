"""The village admin's points supermarkets (积分超市): open, pause, items on the shelf, restocking."""

from __future__ import annotations

import uuid
from functools import partial
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from jifen.kit.db import PageRoute
from jifen.kit.errors import NotFound
from jifen.store import service as store
from jifen.store.auth import item_admin, item_stocker, store_admin, store_reader
from jifen.store.schemas import ItemCreate, ItemOut, ItemPatch, Restock, StoreCreate, StoreOut
from jifen.web.admin import PERIODS, admin_access, apply_form, checked, form_values, number, press
from jifen.web.context import CurrentPage, PageContext

router = APIRouter(include_in_schema=False, route_class=PageRoute)

ITEM_FIELDS = ("name", "unit", "category", "price_points", "stock", "limit_count", "limit_period")
LIMIT_FIELDS = {"limit.count": "limit_count", "limit.period": "limit_period"}


async def _stores(page: PageContext, *, status: int = 200, **extra: Any) -> Response:
    village = (await admin_access(page)).village
    stores = [StoreOut.model_validate(s) for s in await store.list_stores(page.session, village.id)]
    return page.render_form("admin_stores.html", status=status, title="积分超市", stores=stores, **extra)


@router.get("/admin/stores", response_class=HTMLResponse)
async def list_stores(page: CurrentPage, done: str | None = None) -> Response:
    flash = {"created": "积分超市已开设", "paused": "已暂停营业", "resumed": "已恢复营业"}.get(done or "")
    return await _stores(page, flash=flash)


@router.post("/admin/stores", response_class=HTMLResponse)
async def create_store(page: CurrentPage) -> Response:
    access = await admin_access(page)
    values = form_values(page, "name")
    errors = {"name": "请填写超市名称"} if not values["name"] else {}
    return await apply_form(
        page,
        errors,
        lambda: checked(StoreCreate, values, ("name",)),
        lambda body: store.create_store(page.session, page.actor, access.village, name=body.name),
        lambda _: "/admin/stores?done=created",
        partial(_stores, page),
        values,
    )


@router.post("/admin/stores/{store_id}/active", response_class=HTMLResponse)
async def pause_store(page: CurrentPage, store_id: uuid.UUID) -> Response:
    await admin_access(page)
    active = page.field("active") == "true"
    done = "resumed" if active else "paused"
    back = f"/admin/stores/{store_id}" if page.field("back") == "store" else "/admin/stores"
    return await press(
        page, lambda: _pause(page, store_id, active), partial(_stores, page), lambda _: f"{back}?done={done}"
    )


async def _pause(page: PageContext, store_id: uuid.UUID, active: bool) -> None:
    access = await store_admin(store_id, page.actor, page.session)
    await store.change_store(page.session, page.actor, access.store, name=None, active=active)


async def _store(
    page: PageContext, store_id: uuid.UUID | None, *, status: int = 200, **extra: Any
) -> Response:
    await admin_access(page)
    if store_id is None:
        raise NotFound("找不到这个积分超市")
    access = await store_reader(store_id, page.actor, page.session)
    items = await store.list_items(page.session, access.store, after=None, limit=200, active_only=False)
    extra.setdefault("failed", None)
    return page.render_form(
        "admin_store.html",
        status=status,
        title=access.store.name,
        store=StoreOut.model_validate(access.store),
        items=items,
        periods=PERIODS,
        **extra,
    )


STORE_DONE = {
    "item": "商品已上架",
    "restocked": "已入库，库存已增加",
    "on": "商品已上架销售",
    "off": "商品已下架",
    "paused": "已暂停营业",
    "resumed": "已恢复营业",
}


@router.get("/admin/stores/{store_id}", response_class=HTMLResponse)
async def show_store(page: CurrentPage, store_id: uuid.UUID, done: str | None = None) -> Response:
    return await _store(page, store_id, flash=STORE_DONE.get(done or ""))


def _item_body(values: dict[str, str], errors: dict[str, str]) -> dict[str, Any]:
    if not values["name"]:
        errors["name"] = "请填写商品名称"
    price = number(values, errors, "price_points", low=1, high=1_000_000, required=True)
    stock = number(values, errors, "stock", low=0, high=1_000_000) or 0
    limit = number(values, errors, "limit_count", low=1, high=100_000)
    if limit is not None and values["limit_period"] not in PERIODS:
        errors["limit_period"] = "填写了限购数量，请选择限购周期"
    body: dict[str, Any] = {"name": values["name"], "price_points": price, "stock": stock}
    body |= {name: values[name] for name in ("unit", "category") if values[name]}
    if limit is not None:
        body["limit"] = {"count": limit, "period": values["limit_period"]}
    return body


@router.post("/admin/stores/{store_id}/items", response_class=HTMLResponse)
async def create_item(page: CurrentPage, store_id: uuid.UUID) -> Response:
    await admin_access(page)
    values = form_values(page, *ITEM_FIELDS)
    errors: dict[str, str] = {}
    wanted = _item_body(values, errors)
    return await apply_form(
        page,
        errors,
        lambda: checked(ItemCreate, wanted, ITEM_FIELDS, LIMIT_FIELDS),
        lambda body: _create_item(page, store_id, body),
        lambda _: f"/admin/stores/{store_id}?done=item",
        partial(_store, page, store_id, failed="new"),
        values,
    )


async def _create_item(page: PageContext, store_id: uuid.UUID, body: ItemCreate) -> ItemOut:
    access = await store_admin(store_id, page.actor, page.session)
    return await store.create_item(page.session, page.actor, access.store, body)


def _store_of_form(page: PageContext) -> uuid.UUID | None:
    """The store whose page a form on an item came from (to show it again when the form is refused)."""
    try:
        return uuid.UUID(page.field("store_id"))
    except ValueError:
        return None


@router.post("/admin/items/{item_id}/active", response_class=HTMLResponse)
async def item_on_sale(page: CurrentPage, item_id: uuid.UUID) -> Response:
    await admin_access(page)
    active = page.field("active") == "true"
    return await press(
        page,
        lambda: _item_on_sale(page, item_id, active),
        partial(_store, page, _store_of_form(page)),
        lambda item: f"/admin/stores/{item.store_id}?done={'on' if active else 'off'}",
    )


async def _item_on_sale(page: PageContext, item_id: uuid.UUID, active: bool) -> ItemOut:
    access = await item_admin(item_id, page.actor, page.session)
    return await store.change_item(page.session, page.actor, access.store, item_id, ItemPatch(active=active))


@router.post("/admin/items/{item_id}/restock", response_class=HTMLResponse)
async def restock(page: CurrentPage, item_id: uuid.UUID) -> Response:
    await admin_access(page)
    values = form_values(page, "quantity", "note")
    errors: dict[str, str] = {}
    quantity = number(
        values,
        errors,
        "quantity",
        low=1,
        high=1_000_000,
        required=True,
        message="入库数量请填 1 到 1000000 的整数",
    )
    wanted = {"quantity": quantity, **({"note": values["note"]} if values["note"] else {})}
    return await apply_form(
        page,
        errors,
        lambda: checked(Restock, wanted, ("quantity", "note")),
        lambda body: _restock(page, item_id, body),
        lambda done: f"/admin/stores/{done.store_id}?done=restocked",
        partial(_store, page, _store_of_form(page), failed=item_id),
        values,
    )


async def _restock(page: PageContext, item_id: uuid.UUID, body: Restock) -> ItemOut:
    """Goods onto the shelf once per rendered form: a double tap or a reload restocks once."""
    access = await item_stocker(item_id, page.actor, page.session)
    return await page.once(
        access.store.village_id,
        body,
        ItemOut,
        lambda: store.restock(
            page.session, page.actor, access.store, item_id, quantity=body.quantity, note=body.note
        ),
    )
