from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from jifen.audit import service as audit
from jifen.auth.actor import Actor
from jifen.auth.households import HouseholdAccess, VillageScope
from jifen.auth.scope import HouseholdView
from jifen.households import repository
from jifen.households.schemas import HouseholdCreate, HouseholdOut, HouseholdSummary, MemberIn, MemberOut
from jifen.kit.db import unique_or
from jifen.kit.errors import DuplicateCode
from jifen.kit.logging import mask_phone
from jifen.kit.pagination import BY_TEXT, Page
from jifen.ledger import service as ledger
from jifen.models import Household, Member, VillageView


async def create_household(
    session: AsyncSession,
    actor: Actor,
    village: VillageView,
    *,
    code: str,
    head_name: str,
    grid: str | None,
    address: str | None,
    members: Sequence[MemberIn],
    household_class: str | None = None,
) -> Household:
    if await repository.code_taken(session, village.id, code):
        raise DuplicateCode(f"户编号 {code} 在本村已存在")
    household = Household(
        village_id=village.id,
        code=code,
        head_name=head_name,
        grid=grid,
        address=address,
        household_class=household_class,
    )
    with unique_or(DuplicateCode(f"户编号 {code} 在本村已存在"), "uq_households_village_id_code"):
        await repository.add_household(session, household)
    await ledger.open_household_account(session, village.id, household.id)
    await repository.add_members(
        session,
        [
            Member(village_id=village.id, household_id=household.id, name=m.name, phone=m.phone)
            for m in members
        ],
    )
    await audit.record(
        session,
        actor,
        village.id,
        "household.create",
        household.id,
        after={
            "code": code,
            "head_name": head_name,
            "grid": grid,
            "address": address,
            "class": household_class,
            "members": [{"name": m.name, "phone": mask_phone(m.phone)} for m in members],
        },
    )
    return household


async def add_household(
    session: AsyncSession, actor: Actor, village: VillageView, body: HouseholdCreate
) -> Household:
    """The household the API's (or the admin page's) form describes, on the village's roll."""
    return await create_household(
        session, actor, village, members=body.members, **body.model_dump(exclude={"members"})
    )


async def add_member(session: AsyncSession, actor: Actor, household: Household, member: MemberIn) -> Member:
    row = Member(
        village_id=household.village_id, household_id=household.id, name=member.name, phone=member.phone
    )
    await repository.add_members(session, [row])
    after = {"member_id": row.id, "name": member.name, "phone": mask_phone(member.phone)}
    await audit.record(
        session, actor, household.village_id, "member.add", household.id, record_type="household", after=after
    )
    return row


# the households a search finds, by code: the repository's query as it stands
find_households = repository.search_households


async def households_page(
    session: AsyncSession,
    access: VillageScope,
    *,
    q: str | None,
    grid: str | None,
    cursor: str | None,
    limit: int,
) -> Page[HouseholdSummary]:
    """The village's households by code, as much of each as the caller may read: search by code or head's
    name, filter by grid; a cadre assigned to grids sees their grids' (the API's list, the staff's search,
    the counter's lookup)."""
    after = BY_TEXT.after(cursor)
    rows = await find_households(
        session,
        access.village.id,
        q=q.strip() if q else None,
        grid=grid or None,
        grids=access.grids,
        after_code=after[0] if after else None,
        limit=limit + 1,
    )
    items = [household_summary(h, access.view_of(h.id, h.grid)) for h in rows]
    return BY_TEXT.page(items, limit, lambda summary: (summary.code,))


async def household_grids(session: AsyncSession, access: VillageScope) -> list[str]:
    """The grids of the households the caller may list (a cadre assigned to grids: theirs)."""
    return await repository.household_grids(session, access.village.id, only=access.grids)


def household_summary(
    household: Household | repository.HouseholdLine, view: HouseholdView | None
) -> HouseholdSummary:
    summary = HouseholdSummary.model_validate(household)
    if view is HouseholdView.counter:
        summary.address = None  # the counter needs the code, the name and the points
    return summary


async def household_out(session: AsyncSession, access: HouseholdAccess) -> HouseholdOut:
    household = access.household
    with_members = access.view > HouseholdView.counter
    lines = await repository.members_and_balance(session, household, members=with_members)
    if not lines:
        raise ledger.NoAccount()
    members: list[MemberOut] | None = None
    if with_members:
        full = access.phones_in_full
        members = [
            MemberOut(
                id=m.id,
                name=m.name or "",
                phone=m.phone if full else mask_phone(m.phone),
                relation=m.relation,
            )
            for m in lines
            if m.id is not None
        ]
    first = lines[0]
    return HouseholdOut(
        **household_summary(household, access.view).model_dump(),
        members=members,
        created_at=household.created_at,
        balance=ledger.balance_out(household.id, first.posted, first.held, first.lifetime_earned),
    )
