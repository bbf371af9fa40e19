from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from jifen.audit import service as audit
from jifen.auth.actor import Actor
from jifen.kit.db import unique_or
from jifen.kit.errors import DuplicateCode
from jifen.ledger import service as ledger
from jifen.models import Village, VillageView
from jifen.villages import repository
from jifen.villages.repository import VillageName

# a village's id, code and name never change (repository.VillageName): this process keeps those it has read
_NAMES: dict[uuid.UUID, VillageName] = {}


async def create_village(session: AsyncSession, actor: Actor, *, code: str, name: str) -> Village:
    if await repository.code_taken(session, code):
        raise DuplicateCode(f"村编号 {code} 已被使用")
    village = Village(code=code, name=name)
    # a concurrent request may take the code between the check and the insert
    with unique_or(DuplicateCode(f"村编号 {code} 已被使用"), "uq_villages_code"):
        await repository.add_village(session, village)
    await ledger.open_village_accounts(session, village.id)
    await audit.record(
        session, actor, village.id, "village.create", village.id, after={"code": code, "name": name}
    )
    return village


async def visible_villages(
    session: AsyncSession, actor: Actor, *, after_code: str | None, limit: int
) -> Sequence[Village]:
    only = None if actor.is_town_admin else actor.village_ids()
    return await repository.list_villages(session, only=only, after_code=after_code, limit=limit)


async def visible_village_names(session: AsyncSession, actor: Actor, *, limit: int) -> list[VillageName]:
    """The villages the actor may see (by code), as every page's header needs them: read once per process
    for an actor of given villages; for the town admin every time, so a village created a moment ago
    (perhaps by another process) is there at once."""
    if actor.is_town_admin:
        found = await repository.village_names(session, only=None, limit=limit)
        _NAMES.update((v.id, v) for v in found)
        return found
    ids = actor.village_ids()
    missing = [i for i in ids if i not in _NAMES]
    if missing:
        _NAMES.update((v.id, v) for v in await repository.village_names(session, only=missing, limit=limit))
    return sorted((_NAMES[i] for i in ids if i in _NAMES), key=lambda v: v.code)[:limit]


async def change_settings(
    session: AsyncSession, actor: Actor, of: VillageView, *, changes: dict[str, Any]
) -> Village:
    village = await repository.village_to_change(session, of.id)
    before = {name: getattr(village, name) for name in changes}
    for name, value in changes.items():
        setattr(village, name, value)
    await repository.save_village(session, village)
    await audit.record(
        session, actor, village.id, "village.settings", village.id, before=before, after=changes
    )
    return village
