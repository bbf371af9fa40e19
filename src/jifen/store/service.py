from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.audit import service as audit
from jifen.auth.actor import Actor
from jifen.ledger import service as ledger
from jifen.models import Store, Village


async def create_store(session: AsyncSession, actor: Actor, village: Village, *, name: str) -> Store:
    """A points supermarket with its own ledger account (what it takes in redemptions)."""
    store = Store(village_id=village.id, name=name)
    session.add(store)
    await session.flush()
    await ledger.open_store_account(session, village.id, store.id)
    await audit.record(
        session,
        actor,
        village_id=village.id,
        action="store.create",
        record_type="store",
        record_id=store.id,
        after={"name": name},
    )
    return store


async def list_stores(session: AsyncSession, village: Village) -> Sequence[Store]:
    query = select(Store).where(Store.village_id == village.id).order_by(Store.created_at, Store.id)
    return (await session.execute(query)).scalars().all()
