from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from jifen.auth.dependencies import idempotency_key
from jifen.auth.households import HouseholdReader
from jifen.funding import service
from jifen.funding import sheets as reports
from jifen.funding.auth import (
    FundKeeper,
    FundsKeeper,
    FundsReader,
    PegReader,
    ReservationQr,
    SettlementPayer,
    SettlementReader,
)
from jifen.funding.qr import qr_png, qr_svg
from jifen.funding.schemas import (
    FundCreate,
    FundingOverview,
    FundOut,
    FundSource,
    FundVoid,
    PegHistory,
    PegSet,
    SettlementCreate,
    SettlementOut,
    SettlementReport,
)
from jifen.kit.db import AutoCommitRoute, Session
from jifen.kit.error_sets import MONEY_ERRORS, READ_ERRORS, read_route
from jifen.kit.errors import JifenError, create_route, error_responses
from jifen.kit.idempotency import CallerKey, idempotent
from jifen.kit.pagination import BY_TIME_ID, Cursor, Keyset, Limit, Page, list_route
from jifen.kit.periods import InvalidPeriod, parse_period, resolve_period
from jifen.kit.xlsx import XlsxWanted
from jifen.store.reservations import ReservationNotFound

router = APIRouter(tags=["funding"], route_class=AutoCommitRoute)
BY_DATE_ID: Keyset[tuple[date, uuid.UUID]] = Keyset((date, uuid.UUID))


Scale = Annotated[int, Query(ge=1, le=40, description="pixels (SVG: user units) per module")]


def _image(content: str | bytes, media_type: str) -> Response:
    # a pickup code takes goods off the shelf: no shared cache keeps it
    return Response(content, media_type=media_type, headers={"Cache-Control": "private, no-store"})


def _image_responses(media_type: str) -> dict[int | str, dict[str, Any]]:
    return {200: {"content": {media_type: {}}, "description": "the QR code"}}


# ---------------------------------------------------------------------------------------------- the peg


@router.get("/villages/{village_id}/peg", response_model=PegHistory, responses=error_responses(*READ_ERRORS))
async def get_peg(access: PegReader, session: Session) -> PegHistory:
    """What a point is worth in money (fen) now, and every peg the village set."""
    return await service.peg_history(session, access.village.id)


@router.put(
    "/villages/{village_id}/peg",
    response_model=PegHistory,
    responses=error_responses(*READ_ERRORS, service.PegBackdated),
)
async def set_peg(body: PegSet, access: FundsKeeper, session: Session) -> PegHistory:
    """Peg a point to money from now (or a later moment) on, with a reason. Sales already made keep the peg
    they were made under; the same peg again changes nothing."""
    return await service.set_peg(
        session,
        access.actor,
        access.village,
        fen_per_point=body.fen_per_point,
        effective_from=body.effective_from,
        reason=body.reason,
    )


# ---------------------------------------------------------------------------------------------- funds


@create_route(router, "/villages/{village_id}/funds", FundOut, *MONEY_ERRORS, service.ReceivedInFuture)
@idempotent(lambda access: access.village.id)
async def record_fund(
    request: Request,
    body: FundCreate,
    access: FundsKeeper,
    session: Session,
    key: Annotated[CallerKey, Depends(idempotency_key)],
) -> FundOut:
    """Money received for the store (collective, donor, town): an append-only record."""
    return await service.record_fund(session, access.actor, access.village, body)


@list_route(router, "/villages/{village_id}/funds", Page[FundOut])
async def list_funds(
    access: FundsReader,
    session: Session,
    cursor: Cursor = None,
    limit: Limit = 50,
    source: Annotated[FundSource | None, Query(description="only funds from this kind of source")] = None,
    received_from: Annotated[date | None, Query(alias="from", description="received on or after")] = None,
    received_to: Annotated[date | None, Query(alias="to", description="received on or before")] = None,
    voided: Annotated[bool, Query(description="false: leave voided records out")] = True,
) -> Page[FundOut]:
    """The funds received, the latest first; voided ones say so."""
    funds = await service.list_funds(
        session,
        access.village.id,
        source=source,
        received_from=received_from,
        received_to=received_to,
        include_voided=voided,
        after=BY_DATE_ID.after(cursor),
        limit=limit + 1,
    )
    return BY_DATE_ID.page(funds, limit, lambda fund: (fund.received_on, fund.id))


@router.post(
    "/funds/{fund_id}/void",
    response_model=FundOut,
    responses=error_responses(*MONEY_ERRORS, service.FundNotFound, service.AlreadyVoided),
)
@idempotent(lambda access: access.village_id)
async def void_fund(
    request: Request,
    body: FundVoid,
    access: FundKeeper,
    session: Session,
    key: Annotated[CallerKey, Depends(idempotency_key)],
) -> FundOut:
    """Void a fund recorded by mistake, with a reason: it stays on the record and stops counting. Once."""
    return await service.void_fund(
        session, access.actor, access.village_id, access.fund_id, reason=body.reason
    )


# ---------------------------------------------------------------------------------------------- settlement


@read_route(router, "/stores/{store_id}/settlement", SettlementReport, InvalidPeriod, xlsx=True)
async def settlement_report(
    access: SettlementReader,
    session: Session,
    xlsx: XlsxWanted,
    period: Annotated[
        str | None,
        Query(max_length=32, description="2026-11, 2026-Q4, 2026 or 2026-11-01/2026-11-15 (Asia/Shanghai)"),
    ] = None,
    first_day: Annotated[date | None, Query(alias="from", description="first local day, with `to`")] = None,
    last_day: Annotated[date | None, Query(alias="to", description="last local day (included)")] = None,
) -> SettlementReport | Response:
    """What the village owes the store for a period: per item, net of cancellations, each sale at the peg in
    force when it was made. A cancellation counts in the period it was made, as a negative line, so the
    report of an ended period never changes."""
    report = await service.settlement_report(
        session, access.store, resolve_period(period, first_day, last_day)
    )
    return await reports.settlement_xlsx(report) if xlsx else report


@create_route(
    router,
    "/stores/{store_id}/settlements",
    SettlementOut,
    *MONEY_ERRORS,
    InvalidPeriod,
    service.AlreadySettled,
    service.PeriodNotEnded,
)
@idempotent(lambda access: access.store.village_id)
async def record_settlement(
    request: Request,
    body: SettlementCreate,
    access: SettlementPayer,
    session: Session,
    key: Annotated[CallerKey, Depends(idempotency_key)],
) -> SettlementOut:
    """The village paid the store for an ended period: an immutable record (the amount defaults to the
    report's total). A store is settled once for any stretch of time."""
    return await service.settle(
        session,
        access.actor,
        access.store,
        parse_period(body.period),
        amount_fen=body.amount_fen,
        note=body.note,
    )


@list_route(router, "/stores/{store_id}/settlements", Page[SettlementOut])
async def list_settlements(
    access: SettlementReader, session: Session, cursor: Cursor = None, limit: Limit = 50
) -> Page[SettlementOut]:
    """What the village paid the store, the latest period first."""
    rows = await service.list_settlements(
        session, access.store, after=BY_TIME_ID.after(cursor), limit=limit + 1
    )
    return BY_TIME_ID.page(rows, limit, lambda settlement: (settlement.starts_at, settlement.id))


# ---------------------------------------------------------------------------------------------- overview


@read_route(router, "/villages/{village_id}/funding", FundingOverview, xlsx=True)
async def funding_overview(
    access: FundsReader, session: Session, xlsx: XlsxWanted
) -> FundingOverview | Response:
    """Is the store funded? Points outstanding and their money value, funds received and spent, what the
    stores are still owed, and the surplus or shortfall."""
    overview = await service.village_funding(session, access.village)
    return await reports.funding_xlsx(access.village.name, overview) if xlsx else overview


# ---------------------------------------------------------------------------------------------- QR codes


_QR_FORMATS: dict[str, tuple[str, Callable[..., str | bytes]]] = {
    "svg": ("image/svg+xml", qr_svg),
    "png": ("image/png", qr_png),
}


def _qr_routes(
    path: str, *errors: type[JifenError], png: str
) -> Callable[[Callable[..., Awaitable[str]]], Callable[..., Awaitable[str]]]:
    """`{path}/qr.svg` and `{path}/qr.png`: the QR code of the text the decorated dependency reads (it also
    says who may read it), as SVG (described by its docstring) and as a PNG image (described by `png`)."""

    def register(code: Callable[..., Awaitable[str]]) -> Callable[..., Awaitable[str]]:
        for ext, (media_type, draw) in _QR_FORMATS.items():
            router.add_api_route(
                f"{path}/qr.{ext}",
                _qr_endpoint(code, media_type, draw, code.__doc__ if ext == "svg" else png),
                methods=["GET"],
                name=f"{code.__name__}_{ext}",
                response_class=Response,
                responses={**_image_responses(media_type), **error_responses(*READ_ERRORS, *errors)},
            )
        return code

    return register


def _qr_endpoint(
    code: Callable[..., Awaitable[str]], media_type: str, draw: Callable[..., str | bytes], doc: str | None
) -> Callable[..., Awaitable[Response]]:
    async def endpoint(text: str, scale: int = 8) -> Response:
        return _image(draw(text, scale=scale), media_type)

    # what FastAPI reads: the text from this route's dependency, and the scale as a query parameter
    endpoint.__annotations__ |= {"text": Annotated[str, Depends(code)], "scale": Scale}
    endpoint.__doc__ = doc
    return endpoint


@_qr_routes(
    "/reservations/{reservation_id}", ReservationNotFound, png="The pickup code's QR code as a PNG image."
)
async def reservation_qr(access: ReservationQr) -> str:
    """The pickup code as a QR code: it holds exactly the 6-digit code the counter accepts."""
    return access.reservation.code


@_qr_routes("/households/{household_id}", png="The household card's QR code as a PNG image, for printing.")
async def household_qr(access: HouseholdReader) -> str:
    """The household card's QR code: it holds exactly the household's code, as the counter accepts it."""
    return access.household.code
