from __future__ import annotations

from fastapi import APIRouter, status

from jifen.households.auth import VillageAdmin
from jifen.kit.db import AutoCommitRoute, Session
from jifen.kit.errors import Forbidden, NotAuthenticated, NotFound, error_responses
from jifen.kit.pagination import Page
from jifen.rules.auth import VillageUser
from jifen.store import service
from jifen.store.schemas import StoreCreate, StoreOut

router = APIRouter(tags=["store"], route_class=AutoCommitRoute)


@router.post(
    "/villages/{village_id}/stores",
    status_code=status.HTTP_201_CREATED,
    response_model=StoreOut,
    responses=error_responses(NotAuthenticated, Forbidden, NotFound),
)
async def create_store(body: StoreCreate, access: VillageAdmin, session: Session) -> StoreOut:
    """Open a points supermarket (积分超市) in the village."""
    store = await service.create_store(session, access.actor, access.village, name=body.name)
    return StoreOut.model_validate(store)


@router.get(
    "/villages/{village_id}/stores",
    response_model=Page[StoreOut],
    responses=error_responses(NotAuthenticated, Forbidden, NotFound),
)
async def list_stores(access: VillageUser, session: Session) -> Page[StoreOut]:
    """The village's stores."""
    stores = await service.list_stores(session, access.village)
    return Page(items=[StoreOut.model_validate(s) for s in stores])
