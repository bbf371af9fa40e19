"""Self-reports (自主申报): a villager reports a good deed of their own household, with a note and photos.
It is an award like any other — filed by the villager (`submitted_by`), under the rule's cap — that always
waits for a reviewer (single review even when the rule needs none; a `double` rule keeps two), then goes
through public notice when the village has one. Only deeds: a deduction is never self-reported."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from jifen.auth.actor import Actor
from jifen.awards.auth import Submission
from jifen.awards.repository import HouseholdRef
from jifen.awards.schemas import AwardItem, AwardOut, SelfReportCreate
from jifen.awards.service import submit


async def file_self_report(
    session: AsyncSession, actor: Actor, household: HouseholdRef, report: SelfReportCreate
) -> AwardOut:
    """File the report; the caller checked that the actor is a villager of the household."""
    submission = Submission(
        actor=actor, village_id=household.village_id, households={household.id: household}
    )
    item = AwardItem(household_id=household.id, **report.model_dump())
    [result] = await submit(session, actor, submission, [item], self_report=True)
    return result
