"""The cadre's and reviewer's pages: find a household, award or deduct under a rule with the cap left in
view, score a grid inspection on one sheet, and work through the review queue."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from jifen.kit.db import AutoCommitRoute
from jifen.kit.timeutil import to_local, utcnow
from jifen.web.context import CurrentPage, Page, form_key, go

router = APIRouter(include_in_schema=False, route_class=AutoCommitRoute)


def _by_category(rules: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for rule in rules:
        if rule["active"]:
            groups[rule["category"]].append(rule)
    return dict(groups)


async def _rules(page: Page) -> list[dict[str, Any]]:
    rules = await page.must(await page.api.get(f"/villages/{page.village_id}/rules", limit=200))
    items: list[dict[str, Any]] = rules["items"]
    return items


@router.get("/staff/households", response_class=HTMLResponse)
async def households(page: CurrentPage, q: str | None = None, grid: str | None = None) -> Response:
    page.need("cadre", "village_admin", "reviewer")
    found = await page.must(
        await page.api.get(f"/villages/{page.village_id}/households", q=q, grid=grid, limit=100)
    )
    return page.render(
        "staff_households.html", title="找农户", items=found["items"], q=q or "", grid=grid or ""
    )


async def _household_page(
    page: Page,
    household_id: str,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    problem: str | None = None,
    flash: str | None = None,
) -> Response:
    household = await page.must(await page.api.get(f"/households/{household_id}"))
    caps = await page.api.get(f"/households/{household_id}/caps")
    left = {c["rule_id"]: c for c in caps.body.get("items", [])} if caps.ok else {}
    entries = await page.api.get(f"/households/{household_id}/entries", limit=10)
    return page.render(
        "staff_household.html",
        status=status,
        title=f"{household['code']} {household['head_name']}",
        household=household,
        groups=_by_category(await _rules(page)),
        left=left,
        entries=entries.body.get("items", []) if entries.ok else [],
        errors=errors or {},
        values=values or {},
        problem=problem,
        flash=flash,
    )


STATUS_DONE = {
    "posted": "已入账",
    "pending_review": "已提交，等待审核",
    "public_notice": "已进入公示",
    "approved": "已通过",
}


@router.get("/staff/households/{household_id}", response_class=HTMLResponse)
async def household(page: CurrentPage, household_id: str, done: str | None = None) -> Response:
    page.need("cadre", "village_admin", "reviewer")
    flash = f"提交成功：{STATUS_DONE.get(done, done)}" if done else None
    return await _household_page(page, household_id, flash=flash)


@router.post("/staff/households/{household_id}/award", response_class=HTMLResponse)
async def award(page: CurrentPage, household_id: str) -> Response:
    page.need("cadre", "village_admin")
    form = await page.request.form()
    values = {k: str(form.get(k) or "") for k in ("rule_id", "quantity", "note")}
    errors: dict[str, str] = {}
    if not values["rule_id"]:
        errors["rule_id"] = "请选择一条积分细则"
    quantity = values["quantity"].strip() or "1"
    if not quantity.isdigit() or not 1 <= int(quantity) <= 1000:
        errors["quantity"] = "次数请填 1 到 1000 的整数"
    if errors:
        return await _household_page(page, household_id, status=422, errors=errors, values=values)
    body: dict[str, Any] = {
        "household_id": household_id,
        "rule_id": values["rule_id"],
        "quantity": int(quantity),
    }
    if values["note"].strip():
        body["note"] = values["note"].strip()
    result = await page.api.post("/awards", body, key=form_key(form))
    if result.ok:
        return go(f"/staff/households/{household_id}?done={result.body['status']}")
    field_errors = result.field_errors()
    return await _household_page(
        page,
        household_id,
        status=result.status if result.status in (403, 409) else 422,
        errors={k: v for k, v in field_errors.items() if k in values},
        values=values,
        problem=None if field_errors else result.detail,
    )


# grid inspections


def _today() -> str:
    return to_local(utcnow()).date().isoformat()


async def _grids(page: Page) -> list[str]:
    households = await page.api.get(f"/villages/{page.village_id}/households", limit=200)
    grids = {h["grid"] for h in households.body.get("items", []) if h.get("grid")} if households.ok else set()
    for grant in page.grants("cadre"):
        if grant.get("grid"):
            grids = {g for g in grids if g == grant["grid"]} or {grant["grid"]}
    return sorted(grids)


@router.get("/staff/inspections", response_class=HTMLResponse)
async def new_inspection(page: CurrentPage) -> Response:
    page.need("cadre", "village_admin")
    return page.render(
        "inspection_new.html",
        title="网格评分",
        grids=await _grids(page),
        groups=_by_category(await _rules(page)),
        values={"inspected_on": _today(), "judges": page.me.get("display_name") or ""},
        chosen=set(),
        errors={},
    )


@router.post("/staff/inspections", response_class=HTMLResponse)
async def open_inspection(page: CurrentPage) -> Response:
    page.need("cadre", "village_admin")
    form = await page.request.form()
    values = {k: str(form.get(k) or "") for k in ("grid", "inspected_on", "judges")}
    chosen = {str(v) for v in form.getlist("rule_ids")}
    judges = [
        j.strip() for j in values["judges"].replace("，", ",").replace("、", ",").split(",") if j.strip()
    ]
    errors: dict[str, str] = {}
    if not values["grid"]:
        errors["grid"] = "请选择网格"
    if not chosen:
        errors["rule_ids"] = "请至少勾选一条细则"
    if not judges:
        errors["judges"] = "请填写评分人姓名，多人用逗号分开"
    if not errors:
        result = await page.api.post(
            f"/villages/{page.village_id}/inspections",
            {
                "grid": values["grid"],
                "inspected_on": values["inspected_on"],
                "rule_ids": sorted(chosen),
                "judges": judges,
            },
        )
        if result.ok:
            return go(f"/staff/inspections/{result.body['id']}")
        errors = result.field_errors()
        if "judges" in " ".join(errors):
            errors["judges"] = next(v for k, v in errors.items() if k.startswith("judges"))
        if not errors:
            errors["_"] = result.detail
    return page.render(
        "inspection_new.html",
        status=422,
        title="网格评分",
        grids=await _grids(page),
        groups=_by_category(await _rules(page)),
        values=values,
        chosen=chosen,
        errors=errors,
        problem=errors.get("_") or (errors.get("inspected_on") and f"检查日期：{errors['inspected_on']}"),
    )


@router.get("/staff/inspections/{inspection_id}", response_class=HTMLResponse)
async def sheet(page: CurrentPage, inspection_id: str, done: str | None = None) -> Response:
    page.need("cadre", "village_admin", "reviewer")
    found = await page.must(await page.api.get(f"/inspections/{inspection_id}"))
    return page.render(
        "inspection_sheet.html",
        title="网格评分表",
        sheet=found,
        values={},
        flash=f"已提交，共 {found.get('awards') or 0} 条加减分" if done else None,
    )


@router.post("/staff/inspections/{inspection_id}", response_class=HTMLResponse)
async def submit_sheet(page: CurrentPage, inspection_id: str) -> Response:
    page.need("cadre", "village_admin")
    form = await page.request.form()
    found = await page.must(await page.api.get(f"/inspections/{inspection_id}"))
    scores = []
    values: dict[str, str] = {}
    bad: list[str] = []
    for household in found["households"]:
        for rule in found["rules"]:
            name = f"s-{household['id']}-{rule['id']}"
            raw = str(form.get(name) or "").strip()
            values[name] = raw
            if raw in ("", "0"):
                continue
            if not raw.isdigit() or int(raw) > 100:
                bad.append(f"{household['code']} {household['head_name']}：{rule['name']}")
                continue
            scores.append({"household_id": household["id"], "rule_id": rule["id"], "quantity": int(raw)})
    if bad:
        return page.render(
            "inspection_sheet.html",
            status=422,
            title="网格评分表",
            sheet=found,
            values=values,
            problem="次数请填 0 到 100 的整数：" + "；".join(bad[:5]),
        )
    result = await page.api.post(
        f"/inspections/{inspection_id}/submit", {"scores": scores}, key=form_key(form)
    )
    if result.ok:
        return go(f"/staff/inspections/{inspection_id}?done=1")
    return page.render(
        "inspection_sheet.html",
        status=409 if result.status == 409 else 422,
        title="网格评分表",
        sheet=found,
        values=values,
        problem=result.detail,
    )


# review queue


async def _queue(page: Page, **extra: Any) -> Response:
    queue = await page.must(await page.api.get(f"/villages/{page.village_id}/review-queue"))
    my_name = page.me.get("display_name") or page.me.get("username")
    return page.render(
        "reviews.html", title="审核", items=queue["items"], me_id=page.me["id"], my_name=my_name, **extra
    )


@router.get("/staff/reviews", response_class=HTMLResponse)
async def reviews(page: CurrentPage, done: str | None = None) -> Response:
    page.need("reviewer", "village_admin")
    flash = {"approve": "已审核通过", "reject": "已驳回"}.get(done or "")
    return await _queue(page, flash=flash, errors={}, values={})


@router.post("/staff/reviews/{award_id}/{decision}", response_class=HTMLResponse)
async def decide(page: CurrentPage, award_id: str, decision: str) -> Response:
    page.need("reviewer", "village_admin")
    form = await page.request.form()
    reason = str(form.get("reason") or "").strip()
    if decision == "reject" and not reason:
        return await _queue(
            page, status=422, errors={award_id: "驳回时请写明理由"}, values={award_id: reason}
        )
    if decision not in ("approve", "reject"):
        return go("/staff/reviews")
    body = {"reason": reason} if reason else None
    result = await page.api.post(f"/awards/{award_id}/{decision}", body)
    if result.ok:
        return go(f"/staff/reviews?done={decision}")
    return await _queue(
        page,
        status=409 if result.status == 409 else 422,
        errors={award_id: result.detail},
        values={award_id: reason},
    )
