"""Grid inspections (网格月度检查): a cadre opens a sheet for one grid and one day — the rules to score and
the names of the judges — scores every household on it and submits once; the scores post (or enter review)
as one batch, all or nothing, through the ledger's batch path."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from jifen.audit import service as audit
from jifen.auth.actor import Actor
from jifen.awards import service
from jifen.awards.auth import Submission
from jifen.awards.repository import HouseholdRef
from jifen.awards.repository import inspections as sheets
from jifen.awards.schemas import AwardItem, AwardOut, InspectionCreate, InspectionResult, SheetOut
from jifen.kit.db import unique_or
from jifen.kit.errors import BadRequest, Conflict, Forbidden, NotFound, found
from jifen.kit.schemas import out_of
from jifen.models import Role


class DuplicateInspection(Conflict, code="duplicate_inspection", detail="这个网格当天已经有一张检查表"): ...


class InspectionSubmitted(Conflict, code="inspection_submitted", detail="这张检查表已经提交过"): ...


class InvalidScore(BadRequest, code="invalid_score", detail="评分不在这张检查表上"): ...


def _check_grid(actor: Actor, village_id: uuid.UUID, grid: str) -> None:
    grants = actor.grants_in(village_id)
    if any(g.role is Role.village_admin for g in grants):
        return
    grids = [g.grid for g in grants if g.role is Role.cadre]
    if grids and None not in grids and grid not in grids:
        raise Forbidden(f"您只负责{'、'.join(str(g) for g in grids)}")


async def open_sheet(
    session: AsyncSession,
    actor: Actor,
    village_id: uuid.UUID,
    *,
    grid: str,
    inspected_on: date,
    rule_ids: list[uuid.UUID],
    judges: list[str],
) -> SheetOut:
    _check_grid(actor, village_id, grid)
    if await sheets.village_rule_count(session, village_id, rule_ids) != len(set(rule_ids)):
        raise NotFound("检查表上有不属于本村的积分细则")
    if not await sheets.grid_households(session, village_id, grid):
        raise NotFound(f"本村没有“{grid}”这个网格的户")
    inspection_id = uuid.uuid4()
    taken = DuplicateInspection(f"{grid} 在 {inspected_on} 已经有一张检查表")
    with unique_or(taken, "uq_inspections_grid_day"):
        await sheets.insert(
            session,
            village_id=village_id,
            inspection_id=inspection_id,
            grid=grid,
            inspected_on=inspected_on,
            rule_ids=list(dict.fromkeys(rule_ids)),
            judges=judges,
            created_by=actor.user_id,
        )
    await audit.record(
        session,
        actor,
        village_id,
        "inspection.open",
        inspection_id,
        after={"grid": grid, "inspected_on": inspected_on.isoformat(), "rules": rule_ids, "judges": judges},
    )
    return await read_sheet(session, inspection_id)


async def get_sheet(session: AsyncSession, inspection_id: uuid.UUID) -> SheetOut | None:
    row = await sheets.inspection(session, inspection_id)
    if row is None:
        return None
    rules = await sheets.sheet_rules(session, row.village_id, row.rule_ids)
    households = await sheets.grid_households(session, row.village_id, row.grid)
    return out_of(SheetOut, row, judges=list(row.judges), rules=rules, households=households)


async def submit_sheet(
    session: AsyncSession,
    actor: Actor,
    inspection_id: uuid.UUID,
    scores: list[AwardItem],
    max_age: timedelta = service.OBSERVED_MAX_AGE,
) -> tuple[SheetOut, list[AwardOut]]:
    """Post (or send to review) every score of the sheet in one batch; all or nothing."""
    row = found(await sheets.inspection(session, inspection_id, lock=True), "找不到该检查表")
    if row.status != "open":
        raise InspectionSubmitted()
    village_id, grid = row.village_id, row.grid
    _check_grid(actor, village_id, grid)
    on_sheet = set(row.rule_ids)
    households = {
        h.id: HouseholdRef(id=h.id, village_id=village_id, code=h.code, grid=grid)
        for h in await sheets.grid_households(session, village_id, grid)
    }
    for index, score in enumerate(scores):
        if score.household_id not in households:
            raise InvalidScore(f"第 {index + 1} 项：该户不在{grid}", index=index)
        if score.rule_id not in on_sheet:
            raise InvalidScore(f"第 {index + 1} 项：该细则不在这张检查表上", index=index)
    note = f"{grid} {row.inspected_on} 检查（评委：{'、'.join(row.judges)}）"
    items = [
        AwardItem(
            household_id=s.household_id,
            rule_id=s.rule_id,
            quantity=s.quantity,
            note=s.note or note,
            observed_at=s.observed_at,
        )
        for s in scores
    ]
    results = await _submitted(session, actor, village_id, households, items, inspection_id, max_age)
    await sheets.mark_submitted(session, village_id, inspection_id, actor.user_id, len(results))
    await audit.record(
        session,
        actor,
        village_id,
        "inspection.submit",
        inspection_id,
        after={"awards": len(results), "points": sum(r.points for r in results)},
    )
    return await read_sheet(session, inspection_id), results


async def _submitted(
    session: AsyncSession,
    actor: Actor,
    village_id: uuid.UUID,
    households: dict[uuid.UUID, HouseholdRef],
    items: list[AwardItem],
    inspection_id: uuid.UUID,
    max_age: timedelta,
) -> list[AwardOut]:
    """The sheet's awards under the inspection's id: in one database call when they are of its shape and
    nothing is refused, else (nothing written) through the general path, which gives the refusal."""
    if not items:
        return []
    done = await service.submit_batch_in_one_call(session, actor, items, inspection_id)
    if done is not None:
        return done
    submission = Submission(actor=actor, village_id=village_id, households=households)
    return await service.submit(session, actor, submission, items, batch_id=inspection_id, max_age=max_age)


async def read_sheet(session: AsyncSession, inspection_id: uuid.UUID) -> SheetOut:
    """An inspection sheet and where it stands (its reader checked first)."""
    sheet = await get_sheet(session, inspection_id)
    assert sheet is not None
    return sheet


async def submit_scores(
    session: AsyncSession,
    actor: Actor,
    inspection_id: uuid.UUID,
    scores: list[AwardItem],
    max_age: timedelta = service.OBSERVED_MAX_AGE,
) -> InspectionResult:
    """`submit_sheet`, answered as the sheet and the awards it made (the API's answer and the page's)."""
    sheet, results = await submit_sheet(session, actor, inspection_id, scores, max_age)
    return InspectionResult(inspection=sheet, awards=results)


async def open_inspection(
    session: AsyncSession, actor: Actor, village_id: uuid.UUID, body: InspectionCreate
) -> SheetOut:
    """`open_sheet` with the form the API and the page take."""
    return await open_sheet(session, actor, village_id, **body.model_dump())
