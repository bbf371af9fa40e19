"""A store's catalogue (商品目录) from Excel: one item a row, matched by its name in the store. A new name
adds the item with its opening stock; a changed price, unit, category or limit changes the item. Stock of
an item already on the shelf moves only by restock and sale, never by an import (a second upload of the
same file would otherwise count the goods twice)."""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.audit import service as audit
from jifen.auth.actor import Actor
from jifen.kit import imports
from jifen.kit.db import AutoCommitRoute, Session
from jifen.kit.imports import BadRow, ImportResult, parse_int
from jifen.kit.tables import Table
from jifen.models import Store
from jifen.store import service
from jifen.store.auth import StoreAdmin
from jifen.store.schemas import ItemCreate, ItemOut, ItemPatch

router = APIRouter(tags=["store"], route_class=AutoCommitRoute)

SYNONYMS = {
    "name": ("商品名称", "商品", "名称", "品名", "name"),
    "price": ("兑换积分", "积分", "所需积分", "积分价格", "价格", "分值", "price_points"),
    "stock": ("库存", "数量", "库存数量", "stock"),
    "unit": ("单位", "规格", "unit"),
    "category": ("类别", "分类", "category"),
    "limit": ("每户限购", "限购", "限兑", "每户限兑", "limit"),
    "limit_period": ("限购周期", "限兑周期", "周期"),
}
REQUIRED = ("name", "price")
FIELD_NAMES = {
    "name": "商品名称",
    "price": "兑换积分",
    "stock": "库存",
    "unit": "单位",
    "category": "类别",
    "limit": "每户限购",
    "limit_period": "限购周期",
}
CHANGE_NAMES = {"price_points": "兑换积分", "unit": "单位", "category": "类别", "limit": "每户限购"}


def parse_row(table: Table, cells: list[str]) -> ItemCreate:
    value = table.value
    name = value(cells, "name")
    if not name:
        raise BadRow("缺少商品名称")
    if not value(cells, "price"):
        raise BadRow("缺少兑换积分")
    price = parse_int(value(cells, "price"), "兑换积分")
    if price < 1:
        raise BadRow("兑换积分至少为 1")
    stock = parse_int(value(cells, "stock"), "库存") if value(cells, "stock") else 0
    if stock < 0:
        raise BadRow("库存不能为负数")
    limit = imports.limit_of(table, cells, "limit", "limit_period", FIELD_NAMES)
    body = {
        "name": name,
        "price_points": price,
        "stock": stock,
        "unit": value(cells, "unit") or None,
        "category": value(cells, "category") or None,
        "limit": limit,
    }
    try:
        return ItemCreate.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else ""
        shown = {**FIELD_NAMES, "price_points": "兑换积分"}.get(field, field)
        raise BadRow(f"{shown}格式不正确" if shown else "格式不正确") from None


async def _items(session: AsyncSession, store: Store) -> dict[str, ItemOut]:
    out: dict[str, ItemOut] = {}
    after = None
    while True:
        page = await service.list_items(session, store, after=after, limit=500, active_only=False)
        out.update((i.name, i) for i in page)
        if len(page) < 500:
            return out
        after = (page[-1].name, page[-1].id)


def _item_terms(item: ItemCreate | ItemOut) -> dict[str, object]:
    limit = (item.limit.count, item.limit.period.value) if item.limit else None
    return {"price_points": item.price_points, "unit": item.unit, "category": item.category, "limit": limit}


def _stock_note(current: ItemOut, item: ItemCreate) -> list[str]:
    if item.stock == current.stock:
        return []
    return [f"库存 {current.stock} 不变（表中 {item.stock}）：已上架商品请用补货调整库存"]


MATCHER: imports.Matcher[ItemCreate, ItemOut] = imports.Matcher(
    synonyms=SYNONYMS,
    required=REQUIRED,
    field_names=FIELD_NAMES,
    term_names=CHANGE_NAMES,
    parse=parse_row,
    key=lambda item: item.name,
    name=lambda item: item.name,
    row_terms=_item_terms,
    record_terms=_item_terms,
    duplicate=lambda name, first: f"商品“{name}”与第 {first} 行重复",
    notes=_stock_note,
)
Plan = imports.Plan[ItemCreate, ItemOut]


async def plan(session: AsyncSession, store: Store, table: Table) -> Plan:
    return MATCHER.plan(table, await _items(session, store))


async def apply_plan(session: AsyncSession, actor: Actor, store: Store, planned: Plan) -> ImportResult:
    return await planned.apply(
        lambda item: service.create_item(session, actor, store, item),
        lambda change: service.change_item(session, actor, store, change.current.id, change.patch(ItemPatch)),
        partial(
            audit.record_import, session, actor, scope=(store.village_id, "item.import", "store", store.id)
        ),
    )


@imports.import_route(router, "/stores/{store_id}/imports/items")
async def import_items(
    file: imports.Upload, access: StoreAdmin, session: Session, apply: imports.Apply = False
) -> ImportResult:
    """商品目录 from an Excel or CSV file (columns 商品名称, 兑换积分, 库存, 单位, 类别, 每户限购, 限购周期):
    without `apply` a preview that writes nothing; with `apply=true` every good row at once (bad rows are
    listed and skipped). Matched by name: the same file twice changes nothing the second time."""
    planned = await plan(session, access.store, await MATCHER.upload(file))
    return await apply_plan(session, access.actor, access.store, planned) if apply else planned.result
