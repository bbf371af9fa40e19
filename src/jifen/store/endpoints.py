from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from jifen.auth.dependencies import idempotency_key, optional_idempotency_key
from jifen.auth.households import HouseholdReservationsReader, VillageAdmin
from jifen.kit.db import AutoCommitRoute, Session
from jifen.kit.error_sets import MONEY_ERRORS, READ_ERRORS, read_route
from jifen.kit.errors import BadRequest, create_route, error_responses
from jifen.kit.idempotency import CallerKey, idempotent
from jifen.kit.pagination import BY_TEXT_ID, Cursor, Limit, Page, list_route
from jifen.ledger.service import AlreadyCompensated, InsufficientPoints
from jifen.rules.auth import VillageUser
from jifen.store import basket, one_call, reservations, service
from jifen.store.auth import (
    Cashier,
    CashierKey,
    CodeRedeemer,
    ItemAdmin,
    ItemStocker,
    RedemptionCanceller,
    RedemptionReader,
    ReservationCanceller,
    ReservationReader,
    Reserver,
    StoreAdmin,
    StoreReader,
    is_village_admin,
)
from jifen.store.schemas import (
    ItemCreate,
    ItemOut,
    ItemPatch,
    RedemptionCancel,
    RedemptionCreate,
    RedemptionOut,
    ReservationCancel,
    ReservationCreate,
    ReservationOut,
    ReservationRedeem,
    ReservationStatus,
    Restock,
    StoreCreate,
    StoreOut,
    StorePatch,
)

router = APIRouter(tags=["store"], route_class=AutoCommitRoute)


@create_route(router, "/villages/{village_id}/stores", StoreOut, *READ_ERRORS)
async def create_store(body: StoreCreate, access: VillageAdmin, session: Session) -> StoreOut:
    """Open a points supermarket (积分超市) in the village."""
    store = await service.create_store(session, access.actor, access.village, name=body.name)
    return StoreOut.model_validate(store)


@read_route(router, "/villages/{village_id}/stores", Page[StoreOut])
async def list_stores(access: VillageUser, session: Session) -> Page[StoreOut]:
    """The village's stores."""
    stores = await service.list_stores(session, access.village.id)
    return Page(items=[StoreOut.model_validate(s) for s in stores])


@router.patch("/stores/{store_id}", response_model=StoreOut, responses=error_responses(*READ_ERRORS))
async def change_store(body: StorePatch, access: StoreAdmin, session: Session) -> StoreOut:
    """Rename a store, pause it (`active: false`: no sales) or open it again."""
    store = await service.change_store(
        session, access.actor, access.store, name=body.name, active=body.active
    )
    return StoreOut.model_validate(store)


@create_route(router, "/stores/{store_id}/items", ItemOut, *READ_ERRORS)
async def create_item(body: ItemCreate, access: StoreAdmin, session: Session) -> ItemOut:
    """Put an item on the store's shelf, with its opening stock."""
    return await service.create_item(session, access.actor, access.store, body)


@list_route(router, "/stores/{store_id}/items", Page[ItemOut])
async def list_items(
    access: StoreReader,
    session: Session,
    cursor: Cursor = None,
    limit: Limit = 200,
    active: Annotated[bool | None, Query(description="true: only items on sale")] = None,
) -> Page[ItemOut]:
    """The store's catalogue by name, with prices, stock and limits."""
    items = await service.list_items(
        session, access.store, after=BY_TEXT_ID.after(cursor), limit=limit + 1, active_only=bool(active)
    )
    return BY_TEXT_ID.page(items, limit, lambda item: (item.name, item.id))


@router.patch("/items/{item_id}", response_model=ItemOut, responses=error_responses(*READ_ERRORS))
async def change_item(body: ItemPatch, access: ItemAdmin, session: Session) -> ItemOut:
    """Change an item's name, price, limit, picture, or take it off sale (`active: false`)."""
    return await service.change_item(session, access.actor, access.store, access.item.id, body)


@router.post("/items/{item_id}/restock", response_model=ItemOut, responses=error_responses(*READ_ERRORS))
@idempotent(lambda access: access.store.village_id)
async def restock_item(
    request: Request,
    body: Restock,
    access: ItemStocker,
    session: Session,
    key: Annotated[CallerKey | None, Depends(optional_idempotency_key)],
) -> ItemOut:
    """Goods delivered to the shelf: the stock rises by `quantity`, recorded as a stock movement. With an
    `Idempotency-Key` a repeated request (a double tap) restocks once and replays the first answer."""
    return await service.restock(
        session, access.actor, access.store, access.item.id, quantity=body.quantity, note=body.note
    )


# the refusals of a basket taken from the shelf: a sale at the counter, or goods set aside for a pickup code
BASKET_ERRORS = (
    *MONEY_ERRORS,
    BadRequest,
    InsufficientPoints,
    basket.OutOfStock,
    basket.LimitExceeded,
    basket.StorePaused,
    basket.ItemInactive,
)


@create_route(router, "/redemptions", RedemptionOut, *BASKET_ERRORS)
@idempotent(lambda access: access.village_id(), at_once=one_call.sell_in_one_call)
async def create_redemption(
    request: Request, body: RedemptionCreate, access: Cashier, session: Session, key: CashierKey
) -> RedemptionOut:
    """Sell a basket at the counter: the household's points go to the store and the goods off the shelf,
    together or not at all. The answer is the receipt."""
    household = await service.find_household(
        session, access.store, household_id=body.household_id, code=body.household_code
    )
    return await service.redeem(session, access.actor, access.store, household, body.lines)


@router.get(
    "/redemptions/{redemption_id}", response_model=RedemptionOut, responses=error_responses(*READ_ERRORS)
)
async def get_redemption(access: RedemptionReader, session: Session) -> RedemptionOut:
    """A receipt, and whether the sale was cancelled."""
    balance = await service.household_balance(session, access.redemption)
    return await service.redemption_out(session, access.redemption, balance)


@router.post(
    "/redemptions/{redemption_id}/cancel",
    response_model=RedemptionOut,
    responses=error_responses(
        *MONEY_ERRORS,
        InsufficientPoints,
        service.AlreadyCancelled,
        AlreadyCompensated,
        service.CancelWindowClosed,
    ),
)
@idempotent(lambda access: access.store.village_id)
async def cancel_redemption(
    request: Request,
    body: RedemptionCancel,
    access: RedemptionCanceller,
    session: Session,
    key: Annotated[CallerKey, Depends(idempotency_key)],
) -> RedemptionOut:
    """Cancel a sale with a reason: points and goods come back as new records, once. The store's clerk
    within the village's cancel window; the village admin at any time."""
    return await service.cancel(
        session,
        access.actor,
        access.store,
        access.redemption.id,
        reason=body.reason,
        as_admin=is_village_admin(access.actor, access.store.village_id),
    )


# ---------------------------------------------------------------------------------------------- pickup codes

RESERVATION_ERRORS = (
    reservations.ReservationNotFound,
    reservations.ReservationExpired,
    reservations.ReservationUsed,
    reservations.ReservationCancelled,
)


@create_route(router, "/reservations", ReservationOut, *BASKET_ERRORS)
@idempotent(lambda access: access.store.village_id)
async def create_reservation(
    request: Request,
    body: ReservationCreate,
    access: Reserver,
    session: Session,
    key: Annotated[CallerKey, Depends(idempotency_key)],
) -> ReservationOut:
    """预约兑换: a villager reserves goods for their own household. The points are held and the goods set
    aside under a 6-digit pickup code (and its QR payload), valid for the village's `reservation_days`."""
    return await reservations.reserve(session, access.actor, access.store, access.household_id, body.lines)


@create_route(
    router,
    "/reservations/redeem",
    RedemptionOut,
    *MONEY_ERRORS,
    *RESERVATION_ERRORS,
    basket.StorePaused,
    basket.OutOfStock,
    basket.LimitExceeded,
)
@idempotent(lambda access: access.store.village_id)
async def redeem_reservation(
    request: Request,
    body: ReservationRedeem,
    access: CodeRedeemer,
    session: Session,
    key: Annotated[CallerKey, Depends(idempotency_key)],
) -> RedemptionOut:
    """核销: the store's clerk redeems a pickup code; the answer is the receipt, as for a counter sale."""
    return await reservations.redeem_code(session, access.actor, access.store, body.code)


@read_route(router, "/reservations/{reservation_id}", ReservationOut, reservations.ReservationNotFound)
async def get_reservation(access: ReservationReader, session: Session) -> ReservationOut:
    """A reservation, its code (for the household and the store's staff only) and how it ended."""
    return reservations.without_code(
        await reservations.reservation_out(session, access.reservation), access.sees_pickup_code
    )


@router.post(
    "/reservations/{reservation_id}/cancel",
    response_model=ReservationOut,
    responses=error_responses(*MONEY_ERRORS, *RESERVATION_ERRORS),
)
@idempotent(lambda access: access.store.village_id)
async def cancel_reservation(
    request: Request,
    body: ReservationCancel,
    access: ReservationCanceller,
    session: Session,
    key: Annotated[CallerKey, Depends(idempotency_key)],
) -> ReservationOut:
    """Cancel a reservation (the household's villager, the store's clerk or the village admin): the held
    points and the reserved goods come back, once."""
    return await reservations.cancel(session, access.actor, access.reservation, reason=body.reason)


@list_route(router, "/households/{household_id}/reservations", Page[ReservationOut])
async def list_household_reservations(
    access: HouseholdReservationsReader,
    session: Session,
    cursor: Cursor = None,
    limit: Limit = 50,
    status: Annotated[ReservationStatus | None, Query(description="only reservations in this state")] = None,
) -> Page[ReservationOut]:
    """The household's reservations and their pickup codes, newest first: its own villager and the village
    admin see them all, a clerk those of their own store; the town admin sees them without the codes."""
    return await reservations.household_reservations_page(session, access, cursor, limit, status)
