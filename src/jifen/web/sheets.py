"""Pages that bring a village's paper and spreadsheets in and out: printable household cards, rule sets from
real villages, the rule and store catalogues from Excel, and the spreadsheet downloads behind the tables
the pages show.

Each route is an ordinary page on the services: the actor from the session cookie through the API's own
access checks, the same service functions, one transaction committed before the answer.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from jifen.audit.auth import village_auditor
from jifen.audit.sheets import audit_xlsx
from jifen.auth.actor import VILLAGE_STAFF, VILLAGE_USERS
from jifen.auth.dependencies import require_town_admin, village_role
from jifen.auth.households import village_scope
from jifen.auth.scope import phones_in_full
from jifen.funding import service as funding
from jifen.funding import sheets as funding_sheets
from jifen.funding.auth import settlement_reader
from jifen.households.sheets import roll_xlsx
from jifen.kit import imports
from jifen.kit.db import PageRoute
from jifen.kit.errors import JifenError
from jifen.kit.imports import ImportResult, Plan
from jifen.kit.periods import LocalPeriod, parse_period, resolve_period, this_month
from jifen.kit.tables import Table
from jifen.ledger.sheets import ledger_xlsx
from jifen.models import Role
from jifen.rankings import service as rankings
from jifen.rankings import sheets as ranking_sheets
from jifen.rules import imports as rule_imports
from jifen.rules.schemas import RuleCreate
from jifen.rules.sets import create_rules, library
from jifen.rules.templates import BY_KEY
from jifen.store import imports as item_imports
from jifen.store.auth import store_admin
from jifen.town import service as town
from jifen.town import sheets as town_sheets
from jifen.web.cards import sheets as card_sheets
from jifen.web.cards import village_cards, village_grids
from jifen.web.context import CurrentPage, PageContext, PageRefused, go

router = APIRouter(include_in_schema=False, route_class=PageRoute)


def _period(text: str | None) -> LocalPeriod:
    """A period from a link's query; this month when empty; refused (400 invalid_period) otherwise."""
    return parse_period((text or "").strip() or this_month())


# ----------------------------------------------------------------------------------------- household cards


@router.get("/staff/cards", response_class=HTMLResponse)
async def cards(page: CurrentPage, grid: str | None = None) -> Response:
    """户卡 to print, eight to an A4 sheet: the village admin for the whole village or a grid, a cadre for
    their grids (the API's own grid scope decides)."""
    page.need("village_admin", "cadre")
    scope = await village_scope(Role.village_admin, Role.cadre, village_wide=frozenset())(
        page.village_id, page.actor, page.session
    )
    grids = await village_grids(page.session, page.village_id)
    if scope.grids is not None:
        grids = [g for g in grids if g in scope.grids] or sorted(scope.grids)
        if grid is None:
            grid = grids[0]
        elif grid not in scope.grids:
            raise PageRefused(403, f"您只能打印自己负责的网格（{'、'.join(sorted(scope.grids))}）的户卡")
    grid = grid or None
    found = await village_cards(page.session, page.village_id, grid=grid, grids=scope.grids)
    return page.render(
        "cards.html",
        title="打印户卡",
        village=page.village,
        grids=grids,
        grid=grid,
        whole_village=scope.grids is None,
        cards=found,
        sheets=card_sheets(found),
    )


# ---------------------------------------------------------------------------------------------- downloads


@router.get("/staff/households.xlsx")
async def roll_download(page: CurrentPage, grid: str | None = None, q: str | None = None) -> Response:
    """花名册 with points: what the caller may list (a cadre: their grids)."""
    scope = await village_scope(*VILLAGE_STAFF, village_wide=frozenset({Role.reviewer, Role.clerk}))(
        page.village_id, page.actor, page.session
    )
    village = scope.village
    return await roll_xlsx(
        page.session,
        village.id,
        village.name,
        grid=grid or None,
        grids=scope.grids,
        q=(q or "").strip()[:64] or None,
        addresses=phones_in_full(page.actor, village.id) or page.actor.is_town_admin,
    )


@router.get("/admin/ledger.xlsx")
async def ledger_download(page: CurrentPage, period: str | None = None) -> Response:
    access = await village_role(Role.village_admin)(page.village_id, page.actor, page.session)
    window = _period(period)
    village = access.village
    return await ledger_xlsx(
        page.session, village.id, village.name, window.label, window.starts_at, window.ends_at
    )


@router.get("/admin/audit.xlsx")
async def audit_download(page: CurrentPage, period: str | None = None) -> Response:
    access = await village_auditor(page.actor, page.session, page.village_id)
    window = _period(period)
    filters: dict[str, Any] = {
        "scope": access.village_id,
        "actor_id": None,
        "record_type": None,
        "record_id": None,
        "action": None,
        "since": window.starts_at,
        "until": window.ends_at,
    }
    village = page.village
    return await audit_xlsx(page.session, village.name if village else "本村", filters)


@router.get("/rankings.xlsx")
async def rankings_download(page: CurrentPage, period: str | None = None) -> Response:
    access = await village_role(*VILLAGE_USERS)(page.village_id, page.actor, page.session)
    shown = _period(period).label
    ranking, lists = await rankings.ranking_and_lists(page.session, access.village.id, shown)
    return await ranking_sheets.ranking_xlsx(access.village.name, ranking, lists)


@router.get("/admin/stores/{store_id}/settlement.xlsx")
async def settlement_download(page: CurrentPage, store_id: uuid.UUID, period: str | None = None) -> Response:
    access = await settlement_reader(store_id, page.actor, page.session)
    report = await funding.settlement_report(
        page.session, access.store, resolve_period(period or this_month(), None, None)
    )
    return await funding_sheets.settlement_xlsx(report)


@router.get("/admin/funding.xlsx")
async def funding_download(page: CurrentPage) -> Response:
    access = await village_role(Role.village_admin)(page.village_id, page.actor, page.session)
    overview = await funding.village_funding(page.session, access.village)
    return await funding_sheets.funding_xlsx(access.village.name, overview)


@router.get("/town/overview.xlsx")
async def town_download(page: CurrentPage, period: str | None = None) -> Response:
    require_town_admin(page.actor)
    overview = await town.overview(page.session, _period(period).label)
    return await town_sheets.town_xlsx(page.request.app.state.settings.town_name, overview)


# ---------------------------------------------------------------------------------------------- rule sets


def _integer(text: str) -> int:
    return int(text.strip().replace("＋", "+").replace("－", "-").replace("−", "-"))


def _admin(page: PageContext) -> None:
    page.need("village_admin")


@router.get("/admin/rule-sets", response_class=HTMLResponse)
async def rule_sets(page: CurrentPage) -> Response:
    _admin(page)
    return page.render("admin_rule_sets.html", title="常用细则", sets=library().items, chosen=None)


@router.post("/admin/rule-sets", response_class=HTMLResponse)
async def create_rule_set(page: CurrentPage) -> Response:
    """The checked rules of one set, with the points and caps the admin typed, created in one step."""
    _admin(page)
    access = await village_role(Role.village_admin)(page.village_id, page.actor, page.session)
    chosen = BY_KEY.get(page.field("set"))
    form = page.form
    picked = [str(v) for v in form.getlist("pick")] if form is not None else []
    values = {k: str(v) for k, v in (form or {}).items() if isinstance(v, str)}
    problem: str | None = None
    items: list[RuleCreate] = []
    if chosen is None:
        raise PageRefused(404, "找不到这套细则，请返回重新选择")
    if not picked:
        problem = "请至少勾选一条细则"
    for template in chosen.rules:
        if problem or template.code not in picked:
            continue
        body = template.body()
        try:
            body["points"] = int(
                values.get(f"points-{template.code}", "").replace("＋", "+").replace("－", "-")
            )
            if template.cap is not None:
                body["cap"] = {
                    "count": int(values.get(f"cap-{template.code}", "")),
                    "period": template.cap[1],
                }
            items.append(RuleCreate.model_validate(body))
        except (ValueError, ValidationError):
            problem = f"“{template.name}”的分值或上限请填写整数（分值不能为 0，扣分细则填负数）"
    if problem is None:
        try:
            await create_rules(page.session, page.actor, access.village, items)
        except JifenError as refused:
            await page.undo()
            problem = refused.detail
    if problem is not None:
        return page.render(
            "admin_rule_sets.html",
            status=409 if "已存在" in problem else 422,
            title="常用细则",
            sets=library().items,
            chosen=chosen.key,
            picked=picked,
            values=values,
            problem_rows=problem,
        )
    return go("/admin/rules")


# --------------------------------------------------------------------------------------- catalogue imports


@dataclass(frozen=True)
class ImportPage:
    """What the upload page says: its heading, where it posts, the way back, the columns it needs."""

    heading: str
    action: str
    back: tuple[str, str]  # path, name
    columns: str
    key_name: str


async def _import_page(
    page: PageContext,
    shown: ImportPage,
    table_of: Callable[[str, bytes], Table],
    plan: Callable[[Table], Awaitable[Plan[Any, Any]]],
    apply: Callable[[Plan[Any, Any]], Awaitable[ImportResult]],
) -> Response:
    """Upload → preview (nothing written) → confirm (the stashed file by its hash) for either catalogue."""
    data_dir = page.request.app.state.settings.data_dir
    values: dict[str, Any] = {"title": shown.heading, "form": shown, "result": None}
    if page.request.method == "GET":
        return page.render("admin_import.html", **values)
    form = page.form
    upload = form.get("file") if form is not None else None
    digest, filename = page.field("sha256"), page.field("filename")
    confirming = not isinstance(upload, UploadFile)
    if isinstance(upload, UploadFile):
        filename, content = await imports.read_upload(upload)
        digest = imports.stash(data_dir, content)
    elif (found := imports.unstash(data_dir, digest)) is not None:
        content = found
    else:
        raise PageRefused(404, "上传的文件已过期，请重新上传")
    try:
        planned = await plan(table_of(filename, content))
        result = await apply(planned) if confirming else planned.result
    except JifenError as refused:
        await page.undo()
        return page.render("admin_import.html", status=400, problem=refused.detail, **values)
    if confirming:
        imports.drop(data_dir, digest)
    return page.render("admin_import.html", **{**values, "result": result, "filename": filename})


@router.api_route("/admin/rules/import", methods=["GET", "POST"], response_class=HTMLResponse)
async def import_rules(page: CurrentPage) -> Response:
    _admin(page)
    village = (await village_role(Role.village_admin)(page.village_id, page.actor, page.session)).village
    shown = ImportPage(
        "从 Excel 导入积分细则",
        "/admin/rules/import",
        ("/admin/rules", "积分细则"),
        "编号、名称、类别、分值（可选：上限、上限周期、审核、需要照片、整改返还）",
        "编号",
    )
    return await _import_page(
        page,
        shown,
        rule_imports.MATCHER.read,
        lambda table: rule_imports.plan(page.session, village, table),
        lambda planned: rule_imports.apply_plan(page.session, page.actor, village, planned),
    )


@router.api_route("/admin/stores/{store_id}/import", methods=["GET", "POST"], response_class=HTMLResponse)
async def import_items(page: CurrentPage, store_id: uuid.UUID) -> Response:
    _admin(page)
    store = (await store_admin(store_id, page.actor, page.session)).store
    shown = ImportPage(
        f"从 Excel 导入{store.name}商品",
        f"/admin/stores/{store_id}/import",
        (f"/admin/stores/{store_id}", store.name),
        "商品名称、兑换积分（可选：库存、单位、类别、每户限购、限购周期）",
        "商品",
    )
    return await _import_page(
        page,
        shown,
        item_imports.MATCHER.read,
        lambda table: item_imports.plan(page.session, store, table),
        lambda planned: item_imports.apply_plan(page.session, page.actor, store, planned),
    )
