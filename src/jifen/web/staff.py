"""The cadre's and reviewer's pages: find a household, award or deduct under a rule with the cap left in
view, score a grid inspection on one sheet, and work through the review queue."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response
from pydantic import AwareDatetime, TypeAdapter, ValidationError

from jifen.auth.households import (
    HouseholdAccess,
    award_lister,
    household_lister,
    read_household,
    read_household_history,
)
from jifen.awards import board, inspections
from jifen.awards import schemas as forms
from jifen.awards import service as awards
from jifen.awards.auth import (
    award_reviewer,
    award_submitter,
    inspection_reader,
    inspection_scorer,
    village_scorer,
)
from jifen.households import service as households
from jifen.households.endpoints import NO_NUL
from jifen.kit.db import PageRoute
from jifen.kit.errors import JifenError
from jifen.kit.timeutil import to_local, utcnow
from jifen.ledger import service as ledger
from jifen.models import AwardStatus, VillageView
from jifen.rules import service as rules
from jifen.rules.auth import village_user
from jifen.rules.schemas import RuleOut
from jifen.web.context import CurrentPage, PageContext, go, parse

router = APIRouter(include_in_schema=False, route_class=PageRoute)

SearchText = Annotated[str | None, Query(max_length=64, pattern=NO_NUL)]
GridText = Annotated[str | None, Query(max_length=32, pattern=NO_NUL)]
OBSERVED = TypeAdapter(AwareDatetime)


async def village_of(page: PageContext) -> VillageView:
    """The page's village, through the API's check for anyone of the village."""
    return (await village_user(page.village_id, page.actor, page.session)).village


def in_words(errors: Mapping[str, str], words: Mapping[str, str]) -> dict[str, str]:
    """A model's field errors by top-level field (`judges.0` → `judges`), in this page's own words where it
    has them (the sentence the form has always shown next to that field)."""
    out: dict[str, str] = {}
    for name, message in errors.items():
        top = name.split(".")[0]
        out.setdefault(top, words.get(top, message))
    return out


def _by_category(all_rules: list[RuleOut]) -> dict[str, list[RuleOut]]:
    groups: dict[str, list[RuleOut]] = defaultdict(list)
    for rule in all_rules:
        if rule.active:
            groups[rule.category].append(rule)
    return dict(groups)


async def _rule_groups(page: PageContext) -> dict[str, list[RuleOut]]:
    return _by_category(await rules.rules_out(page.session, await village_of(page)))


@router.get("/staff/households", response_class=HTMLResponse)
async def households_list(page: CurrentPage, q: SearchText = None, grid: GridText = None) -> Response:
    page.need("cadre", "village_admin", "reviewer")
    access = await household_lister(page.village_id, page.actor, page.session)
    found = await households.households_page(page.session, access, q=q, grid=grid, cursor=None, limit=100)
    return page.render("staff_households.html", title="找农户", items=found.items, q=q or "", grid=grid or "")


async def _history(page: PageContext, household_id: uuid.UUID) -> HouseholdAccess | None:
    """The household's history, for those who may read it (a reviewer reads its summary only)."""
    try:
        return await read_household_history(household_id, page.actor, page.session)
    except JifenError:
        return None


async def _household_page(
    page: PageContext,
    household_id: uuid.UUID,
    *,
    status: int = 200,
    **extra: Any,
) -> Response:
    household = await households.household_out(
        page.session, await read_household(household_id, page.actor, page.session)
    )
    history = await _history(page, household_id)
    caps = await board.household_caps(page.session, history.household) if history else None
    entries = await ledger.entries_page(page.session, history.household, None, 10) if history else None
    return page.render_form(
        "staff_household.html",
        status=status,
        title=f"{household.code} {household.head_name}",
        household=household,
        groups=await _rule_groups(page),
        left={c.rule_id: c for c in caps.items} if caps else {},
        entries=entries.items if entries else [],
        **extra,
    )


STATUS_DONE = {
    "posted": "已入账",
    "pending_review": "已提交，等待审核",
    "public_notice": "已进入公示",
    "approved": "已通过",
}


@router.get("/staff/households/{household_id}", response_class=HTMLResponse)
async def household(page: CurrentPage, household_id: uuid.UUID, done: str | None = None) -> Response:
    page.need("cadre", "village_admin", "reviewer")
    flash = f"提交成功：{STATUS_DONE.get(done, done)}" if done else None
    return await _household_page(page, household_id, flash=flash)


AWARD_WORDS = {"rule_id": "请选择一条积分细则", "quantity": "次数请填 1 到 1000 的整数"}
BAD_OBSERVED = "评分时间格式不正确，请刷新页面后重新评分"


def _observed(page: PageContext) -> tuple[datetime | None, str | None]:
    """The form's `observed_at` (set by the offline outbox script when the deed was scored; empty without
    it): the moment, or the sentence saying it is no moment."""
    raw = page.field("observed_at").strip()
    if not raw:
        return None, None
    try:
        return OBSERVED.validate_python(raw), None
    except ValidationError:
        return None, BAD_OBSERVED


@router.post("/staff/households/{household_id}/award", response_class=HTMLResponse)
async def award(page: CurrentPage, household_id: uuid.UUID) -> Response:
    page.need("cadre", "village_admin")
    values = {k: page.field(k) for k in ("rule_id", "quantity", "note")}
    observed, bad_observed = _observed(page)
    body, errors = parse(
        forms.AwardCreate,
        {
            "household_id": household_id,
            "rule_id": values["rule_id"],
            "quantity": values["quantity"].strip() or "1",
            "note": values["note"].strip() or None,
            "observed_at": observed,
        },
    )
    if body is None or bad_observed:
        errors = in_words(errors, AWARD_WORDS)
        return await _household_page(
            page, household_id, status=422, errors=errors, values=values, problem=bad_observed
        )
    max_age = page.request.app.state.settings.observed_max_age
    try:
        submission = await award_submitter(body, page.actor, page.session)

        async def produce() -> forms.AwardOut:
            [result] = await awards.submit(
                page.session, submission.actor, submission, [body], max_age=max_age
            )
            return result

        made = await page.once(submission.village_id, body, forms.AwardOut, produce)
    except JifenError as refused:
        await page.undo()
        status = refused.status if refused.status in (403, 409) else 422
        return await _household_page(page, household_id, status=status, values=values, problem=refused.detail)
    return go(f"/staff/households/{household_id}?done={made.status}")


# grid inspections


def _today() -> str:
    return to_local(utcnow()).date().isoformat()


async def _grids(page: PageContext) -> list[str]:
    access = await household_lister(page.village_id, page.actor, page.session)
    grids = set(await households.household_grids(page.session, access))
    for grant in page.grants("cadre"):
        if grant.grid:
            grids = {g for g in grids if g == grant.grid} or {grant.grid}
    return sorted(grids)


async def _inspection_form(
    page: PageContext,
    *,
    status: int = 200,
    values: dict[str, str],
    chosen: set[str],
    errors: dict[str, str],
) -> Response:
    return page.render(
        "inspection_new.html",
        status=status,
        title="网格评分",
        grids=await _grids(page),
        groups=await _rule_groups(page),
        values=values,
        chosen=chosen,
        errors=errors,
        problem=errors.get("_") or (errors.get("inspected_on") and f"检查日期：{errors['inspected_on']}"),
    )


@router.get("/staff/inspections", response_class=HTMLResponse)
async def new_inspection(page: CurrentPage) -> Response:
    page.need("cadre", "village_admin")
    values = {"inspected_on": _today(), "judges": page.actor.display_name or ""}
    return await _inspection_form(page, values=values, chosen=set(), errors={})


INSPECTION_WORDS = {
    "grid": "请选择网格",
    "rule_ids": "请至少勾选一条细则",
    "judges": "请填写评分人姓名，多人用逗号分开",
}


def _judges(text: str) -> list[str]:
    return [j.strip() for j in text.replace("，", ",").replace("、", ",").split(",") if j.strip()]


@router.post("/staff/inspections", response_class=HTMLResponse)
async def open_inspection(page: CurrentPage) -> Response:
    page.need("cadre", "village_admin")
    values = {k: page.field(k) for k in ("grid", "inspected_on", "judges")}
    chosen = {str(v) for v in (page.form.getlist("rule_ids") if page.form else [])}
    fields = {"grid": values["grid"], "rule_ids": sorted(chosen), "judges": _judges(values["judges"])}
    # nothing chosen is said in the form's own words; what is there, the model checks
    errors = {name: INSPECTION_WORDS[name] for name, value in fields.items() if not value}
    body, invalid = parse(forms.InspectionCreate, {**fields, "inspected_on": values["inspected_on"]})
    errors = errors or in_words(invalid, {})
    if body is not None and not errors:
        try:
            access = await village_scorer(page.village_id, page.actor, page.session)
            sheet = await inspections.open_inspection(page.session, access.actor, access.village.id, body)
            return go(f"/staff/inspections/{sheet.id}")
        except JifenError as refused:
            await page.undo()
            errors = {"_": refused.detail}
    return await _inspection_form(page, status=422, values=values, chosen=chosen, errors=errors)


async def _sheet(page: PageContext, inspection_id: uuid.UUID) -> forms.SheetOut:
    await inspection_reader(inspection_id, page.actor, page.session)
    return await inspections.read_sheet(page.session, inspection_id)


@router.get("/staff/inspections/{inspection_id}", response_class=HTMLResponse)
async def sheet(page: CurrentPage, inspection_id: uuid.UUID, done: str | None = None) -> Response:
    page.need("cadre", "village_admin", "reviewer")
    found = await _sheet(page, inspection_id)
    return page.render(
        "inspection_sheet.html",
        title="网格评分表",
        sheet=found,
        values={},
        flash=f"已提交，共 {found.awards or 0} 条加减分" if done else None,
    )


def _scores(
    page: PageContext, found: forms.SheetOut, observed: datetime | None
) -> tuple[list[forms.AwardItem], dict[str, str], list[str]]:
    """The sheet's cells as awards (seen at `observed`, when scored offline), what was typed in each, and
    the cells that are not a count."""
    scores: list[forms.AwardItem] = []
    values: dict[str, str] = {}
    bad: list[str] = []
    for household in found.households:
        for rule in found.rules:
            name = f"s-{household.id}-{rule.id}"
            raw = page.field(name).strip()
            values[name] = raw
            if raw in ("", "0"):
                continue
            if not raw.isdigit() or int(raw) > 100:
                bad.append(f"{household.code} {household.head_name}：{rule.name}")
                continue
            scores.append(
                forms.AwardItem(
                    household_id=household.id, rule_id=rule.id, quantity=int(raw), observed_at=observed
                )
            )
    return scores, values, bad


@router.post("/staff/inspections/{inspection_id}", response_class=HTMLResponse)
async def submit_sheet(page: CurrentPage, inspection_id: uuid.UUID) -> Response:
    page.need("cadre", "village_admin")
    found = await _sheet(page, inspection_id)
    observed, bad_observed = _observed(page)
    scores, values, bad = _scores(page, found, observed)
    sheet_page: dict[str, Any] = {"title": "网格评分表", "sheet": found, "values": values}
    if bad or bad_observed:
        problem = bad_observed or "次数请填 0 到 100 的整数：" + "；".join(bad[:5])
        return page.render("inspection_sheet.html", status=422, problem=problem, **sheet_page)
    max_age = page.request.app.state.settings.observed_max_age
    try:
        access = await inspection_scorer(inspection_id, page.actor, page.session)
        await page.once(
            access.village_id,
            forms.InspectionScores(scores=scores),
            forms.InspectionResult,
            lambda: inspections.submit_scores(page.session, access.actor, inspection_id, scores, max_age),
        )
    except JifenError as refused:
        await page.undo()
        status = 409 if refused.status == 409 else 422
        return page.render("inspection_sheet.html", status=status, problem=refused.detail, **sheet_page)
    return go(f"/staff/inspections/{inspection_id}?done=1")


# review queue


async def _queue(page: PageContext, **extra: Any) -> Response:
    access = await award_lister(page.village_id, page.actor, page.session)
    queue = await board.board(
        page.session, access.village.id, AwardStatus.pending_review, None, 200, grids=access.grids
    )
    return page.render(
        "reviews.html",
        title="审核",
        items=queue,
        me_id=page.actor.user_id,
        my_name=page.actor.display_name or page.actor.username,
        **extra,
    )


@router.get("/staff/reviews", response_class=HTMLResponse)
async def reviews(page: CurrentPage, done: str | None = None) -> Response:
    page.need("reviewer", "village_admin")
    flash = {"approve": "已审核通过", "reject": "已驳回"}.get(done or "")
    return await _queue(page, flash=flash, errors={}, values={})


@router.post("/staff/reviews/{award_id}/{decision}", response_class=HTMLResponse)
async def decide(page: CurrentPage, award_id: uuid.UUID, decision: str) -> Response:
    page.need("reviewer", "village_admin")
    reason = page.field("reason").strip()
    if decision == "reject" and not reason:
        return await _queue(
            page, status=422, errors={award_id: "驳回时请写明理由"}, values={award_id: reason}
        )
    if decision not in ("approve", "reject"):
        return go("/staff/reviews")
    body: forms.DecisionIn | forms.RejectIn | None
    if decision == "reject":
        body, invalid = parse(forms.RejectIn, {"reason": reason})
    else:
        body, invalid = parse(forms.DecisionIn, {"reason": reason or None})
    if body is None:
        problem = "；".join(invalid.values())
        return await _queue(page, status=422, errors={award_id: problem}, values={award_id: reason})
    try:
        access = await award_reviewer(award_id, page.actor, page.session)
        await awards.decide(
            page.session, access.actor, award_id, approve=decision == "approve", reason=body.reason
        )
    except JifenError as refused:
        await page.undo()
        status = 409 if refused.status == 409 else 422
        return await _queue(page, status=status, errors={award_id: refused.detail}, values={award_id: reason})
    return go(f"/staff/reviews?done={decision}")
