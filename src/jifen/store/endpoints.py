from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status

from jifen.auth.dependencies import idempotency_key, optional_idempotency_key
from jifen.households.auth import HouseholdReservationsReader, VillageAdmin
from jifen.kit.db import AutoCommitRoute, Session
from jifen.kit.errors import BadRequest, Forbidden, NotAuthenticated, NotFound, error_responses
from jifen.kit.idempotency import (
    CallerKey,
    IdempotencyKeyRequired,
    IdempotencyKeyReused,
    request_fingerprint,
    run_idempotent,
)
from jifen.kit.pagination import Cursor, InvalidCursor, Limit, Page, decode_cursor, encode_cursor
from jifen.ledger.service import AlreadyCompensated, InsufficientPoints
from jifen.rules.auth import VillageUser
from jifen.store import basket, reservations, service
from jifen.store.auth import (
    Cashier,
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

READ_ERRORS = (NotAuthenticated, Forbidden, NotFound)
MONEY_ERRORS = (*READ_ERRORS, IdempotencyKeyRequired, IdempotencyKeyReused)


@router.post(
    "/villages/{village_id}/stores",
    status_code=status.HTTP_201_CREATED,
    response_model=StoreOut,
    responses=error_responses(*READ_ERRORS),
)
async def create_store(body: StoreCreate, access: VillageAdmin, session: Session) -> StoreOut:
    """Open a points supermarket (积分超市) in the village."""
    store = await service.create_store(session, access.actor, access.village, name=body.name)
    return StoreOut.model_validate(store)


@router.get(
    "/villages/{village_id}/stores",
    response_model=Page[StoreOut],
    responses=error_responses(*READ_ERRORS),
)
async def list_stores(access: VillageUser, session: Session) -> Page[StoreOut]:
    """The village's stores."""
    stores = await service.list_stores(session, access.village)
    return Page(items=[StoreOut.model_validate(s) for s in stores])


@router.patch("/stores/{store_id}", response_model=StoreOut, responses=error_responses(*READ_ERRORS))
async def change_store(body: StorePatch, access: StoreAdmin, session: Session) -> StoreOut:
    """Rename a store, pause it (`active: false`: no sales) or open it again."""
    store = await service.change_store(
        session, access.actor, access.store, name=body.name, active=body.active
    )
    return StoreOut.model_validate(store)


@router.post(
    "/stores/{store_id}/items",
    status_code=status.HTTP_201_CREATED,
    response_model=ItemOut,
    responses=error_responses(*READ_ERRORS),
)
async def create_item(body: ItemCreate, access: StoreAdmin, session: Session) -> ItemOut:
    """Put an item on the store's shelf, with its opening stock."""
    return await service.create_item(session, access.actor, access.store, body)


@router.get(
    "/stores/{store_id}/items",
    response_model=Page[ItemOut],
    responses=error_responses(*READ_ERRORS, InvalidCursor),
)
async def list_items(
    access: StoreReader,
    session: Session,
    cursor: Cursor = None,
    limit: Limit = 200,
    active: Annotated[bool | None, Query(description="true: only items on sale")] = None,
) -> Page[ItemOut]:
    """The store's catalogue by name, with prices, stock and limits."""
    key = decode_cursor(cursor, 2)
    try:
        after = (key[0], uuid.UUID(key[1])) if key else None
    except ValueError as exc:
        raise InvalidCursor() from exc
    items = await service.list_items(
        session, access.store, after=after, limit=limit, active_only=bool(active)
    )
    next_cursor = encode_cursor(items[-1].name, items[-1].id) if len(items) == limit else None
    return Page(items=items, next_cursor=next_cursor)


@router.patch("/items/{item_id}", response_model=ItemOut, responses=error_responses(*READ_ERRORS))
async def change_item(body: ItemPatch, access: ItemAdmin, session: Session) -> ItemOut:
    """Change an item's name, price, limit, picture, or take it off sale (`active: false`)."""
    return await service.change_item(session, access.actor, access.store, access.item.id, body)


@router.post("/items/{item_id}/restock", response_model=ItemOut, responses=error_responses(*READ_ERRORS))
async def restock_item(
    request: Request,
    body: Restock,
    access: ItemStocker,
    session: Session,
    key: Annotated[CallerKey | None, Depends(optional_idempotency_key)],
) -> Response:
    """Goods delivered to the shelf: the stock rises by `quantity`, recorded as a stock movement. With an
    `Idempotency-Key` a repeated request (a double tap) restocks once and replays the first answer."""

    async def produce() -> ItemOut:
        return await service.restock(
            session, access.actor, access.store, access.item.id, quantity=body.quantity, note=body.note
        )

    if key is None:
        return Response((await produce()).model_dump_json(), media_type="application/json")
    return await run_idempotent(
        session,
        village_id=access.store.village_id,
        key=key,
        fingerprint=request_fingerprint(request, body),
        status_code=status.HTTP_200_OK,
        produce=produce,
    )


@router.post(
    "/redemptions",
    status_code=status.HTTP_201_CREATED,
    response_model=RedemptionOut,
    responses=error_responses(
        *MONEY_ERRORS,
        BadRequest,
        InsufficientPoints,
        basket.OutOfStock,
        basket.LimitExceeded,
        basket.StorePaused,
        basket.ItemInactive,
    ),
)
async def create_redemption(
    request: Request,
    body: RedemptionCreate,
    access: Cashier,
    session: Session,
    key: Annotated[CallerKey, Depends(idempotency_key)],
) -> Response:
    """Sell a basket at the counter: the household's points go to the store and the goods off the shelf,
    together or not at all. The answer is the receipt."""

    async def produce() -> RedemptionOut:
        household = await service.find_household(
            session, access.store, household_id=body.household_id, code=body.household_code
        )
        return await service.redeem(session, access.actor, access.store, household, body.lines)

    return await run_idempotent(
        session,
        village_id=access.store.village_id,
        key=key,
        fingerprint=request_fingerprint(request, body),
        status_code=status.HTTP_201_CREATED,
        produce=produce,
    )


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
async def cancel_redemption(
    request: Request,
    body: RedemptionCancel,
    access: RedemptionCanceller,
    session: Session,
    key: Annotated[CallerKey, Depends(idempotency_key)],
) -> Response:
    """Cancel a sale with a reason: points and goods come back as new records, once. The store's clerk
    within the village's cancel window; the village admin at any time."""

    async def produce() -> RedemptionOut:
        return await service.cancel(
            session,
            access.actor,
            access.store,
            access.redemption.id,
            reason=body.reason,
            as_admin=is_village_admin(access.actor, access.store.village_id),
        )

    return await run_idempotent(
        session,
        village_id=access.store.village_id,
        key=key,
        fingerprint=request_fingerprint(request, body),
        status_code=status.HTTP_200_OK,
        produce=produce,
    )


# ---------------------------------------------------------------------------------------------- pickup codes

RESERVATION_ERRORS = (
    reservations.ReservationNotFound,
    reservations.ReservationExpired,
    reservations.ReservationUsed,
    reservations.ReservationCancelled,
)


@router.post(
    "/reservations",
    status_code=status.HTTP_201_CREATED,
    response_model=ReservationOut,
    responses=error_responses(
        *MONEY_ERRORS,
        BadRequest,
        InsufficientPoints,
        basket.OutOfStock,
        basket.LimitExceeded,
        basket.StorePaused,
        basket.ItemInactive,
    ),
)
async def create_reservation(
    request: Request,
    body: ReservationCreate,
    access: Reserver,
    session: Session,
    key: Annotated[CallerKey, Depends(idempotency_key)],
) -> Response:
    """预约兑换: a villager reserves goods for their own household. The points are held and the goods set
    aside under a 6-digit pickup code (and its QR payload), valid for the village's `reservation_days`."""

    async def produce() -> ReservationOut:
        return await reservations.reserve(
            session, access.actor, access.store, access.household_id, body.lines
        )

    return await run_idempotent(
        session,
        village_id=access.store.village_id,
        key=key,
        fingerprint=request_fingerprint(request, body),
        status_code=status.HTTP_201_CREATED,
        produce=produce,
    )


@router.post(
    "/reservations/redeem",
    status_code=status.HTTP_201_CREATED,
    response_model=RedemptionOut,
    responses=error_responses(
        *MONEY_ERRORS, *RESERVATION_ERRORS, basket.StorePaused, basket.OutOfStock, basket.LimitExceeded
    ),
)
async def redeem_reservation(
    request: Request,
    body: ReservationRedeem,
    access: CodeRedeemer,
    session: Session,
    key: Annotated[CallerKey, Depends(idempotency_key)],
) -> Response:
    """核销: the store's clerk redeems a pickup code; the answer is the receipt, as for a counter sale."""

    async def produce() -> RedemptionOut:
        return await reservations.redeem_code(session, access.actor, access.store, body.code)

    return await run_idempotent(
        session,
        village_id=access.store.village_id,
        key=key,
        fingerprint=request_fingerprint(request, body),
        status_code=status.HTTP_201_CREATED,
        produce=produce,
    )


@router.get(
    "/reservations/{reservation_id}",
    response_model=ReservationOut,
    responses=error_responses(*READ_ERRORS, reservations.ReservationNotFound),
)
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
async def cancel_reservation(
    request: Request,
    body: ReservationCancel,
    access: ReservationCanceller,
    session: Session,
    key: Annotated[CallerKey, Depends(idempotency_key)],
) -> Response:
    """Cancel a reservation (the household's villager, the store's clerk or the village admin): the held
    points and the reserved goods come back, once."""

    async def produce() -> ReservationOut:
        return await reservations.cancel(session, access.actor, access.reservation, reason=body.reason)

    return await run_idempotent(
        session,
        village_id=access.store.village_id,
        key=key,
        fingerprint=request_fingerprint(request, body),
        status_code=status.HTTP_200_OK,
        produce=produce,
    )


@router.get(
    "/households/{household_id}/reservations",
    response_model=Page[ReservationOut],
    responses=error_responses(*READ_ERRORS, InvalidCursor),
)
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
