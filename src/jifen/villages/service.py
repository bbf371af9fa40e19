from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.audit import service as audit
from jifen.auth.actor import Actor
from jifen.kit.db import violated_constraint
from jifen.kit.errors import DuplicateCode
from jifen.ledger import service as ledger
from jifen.models import Village
from jifen.villages import repository


async def create_village(session: AsyncSession, actor: Actor, *, code: str, name: str) -> Village:
    if await repository.code_taken(session, code):
        raise DuplicateCode(f"村编号 {code} 已被使用")
    village = Village(code=code, name=name)
    try:
        await repository.add_village(session, village)
    except IntegrityError as exc:  # a concurrent request took the code between the check and the insert
        if violated_constraint(exc) == "uq_villages_code":
            raise DuplicateCode(f"村编号 {code} 已被使用") from exc
        raise
    await ledger.open_village_accounts(session, village.id)
    await audit.record(
        session,
        actor,
        village_id=village.id,
        action="village.create",
        record_type="village",
        record_id=village.id,
        after={"code": code, "name": name},
    )
    return village


async def visible_villages(
    session: AsyncSession, actor: Actor, *, after_code: str | None, limit: int
) -> Sequence[Village]:
    only = None if actor.is_town_admin else actor.village_ids()
    return await repository.list_villages(session, only=only, after_code=after_code, limit=limit)


async def change_settings(
    session: AsyncSession, actor: Actor, village: Village, *, changes: dict[str, Any]
) -> Village:
    before = {name: getattr(village, name) for name in changes}
    for name, value in changes.items():
        setattr(village, name, value)
    await repository.save_village(session, village)
    await audit.record(
        session,
        actor,
        village_id=village.id,
        action="village.settings",
        record_type="village",
        record_id=village.id,
        before=before,
        after=changes,
    )
    return village
