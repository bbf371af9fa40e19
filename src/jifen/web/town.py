"""The town admin's overview of every village side by side, and setting up a new village."""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from jifen.auth.dependencies import require_town_admin
from jifen.kit.db import PageRoute
from jifen.kit.errors import JifenError
from jifen.kit.periods import this_month
from jifen.town import service as town
from jifen.town.charts import draw_town_charts
from jifen.villages import service as villages
from jifen.villages.schemas import VillageCreate
from jifen.web.admin import Form, apply_form
from jifen.web.admin_households import code_error
from jifen.web.context import CurrentPage, PageContext

router = APIRouter(include_in_schema=False, route_class=PageRoute)

VILLAGE_FIELDS = ("code", "name")
VILLAGE_FORM = Form(VillageCreate, VILLAGE_FIELDS, refusals={"duplicate_code": "code"})
FIGURES = ("households", "taking_part", "issued", "deducted", "redeemed", "outstanding")


async def _town(page: PageContext, period: str | None, *, status: int = 200, **extra: Any) -> Response:
    page.need("town_admin")
    require_town_admin(page.actor)
    period = (period or "").strip() or this_month()
    try:
        overview, months = await town.overview_and_monthly(page.session, period)
    except JifenError as refused:  # a period nobody can read: this month instead, and why
        extra.setdefault("problem", refused.detail)
        status = 422
        overview, months = await town.overview_and_monthly(page.session, this_month())
    return page.render_form(
        "town.html",
        status=status,
        title="全镇概况",
        period=period,
        shown=overview.period,
        villages=overview.villages,
        totals={key: sum(getattr(v, key) for v in overview.villages) for key in FIGURES},
        charts=draw_town_charts(
            page.request.app.state.settings.town_name,
            months,
            {v.village_id: v.name for v in overview.villages},  # every village the charts show
        ),
        **extra,
    )


@router.get("/town", response_class=HTMLResponse)
async def overview(page: CurrentPage, period: str | None = None, done: str | None = None) -> Response:
    return await _town(page, period, flash=f"已新建村：{done}" if done else None)


@router.post("/town/villages", response_class=HTMLResponse)
async def create_village(page: CurrentPage) -> Response:
    page.need("town_admin")
    actor = require_town_admin(page.actor)  # the same check the API makes, as its typed actor
    form = VILLAGE_FORM.read(page)
    values = form.values
    if problem := code_error(values["code"], "村编号"):
        form.errors["code"] = problem
    if not values["name"]:
        form.errors["name"] = "请填写村名"
    return await apply_form(
        form.check(values),
        lambda body: villages.create_village(page.session, actor, code=body.code, name=body.name),
        lambda _: f"/town?done={values['name']}",
        partial(_town, page, None),
    )
