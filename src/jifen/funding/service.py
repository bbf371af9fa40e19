"""Funding and settlement of the points supermarket (积分超市资金与结算).

A village pegs a point to money (integer fen). The points its households hold are a debt the village must be
able to pay for in goods; the funds it receives (collective, donors, the town) pay the stores for what they
redeemed. Everything here is a record: a peg applies from its start on and is never back-dated, a fund is
corrected by a voiding record, a settlement is written once.

How a period is counted: a sale counts in the period it was made, at the peg in force at that moment; a
cancellation counts in the period it was made, as a negative line at the peg of the sale it cancels. So a
sale in November cancelled in December shows in November's report as sold and in December's as a negative
line, and November's report never changes once November has ended.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from jifen.audit import service as audit
from jifen.auth.actor import Actor
from jifen.funding import repository
from jifen.funding.repository import FundRow, PegRow, overview, settlements
from jifen.funding.repository.settlements import SettlementRow
from jifen.funding.schemas import (
    FundCreate,
    FundingOverview,
    FundOut,
    FundSource,
    FundVoidOut,
    PegHistory,
    PegOut,
    SettlementCancellation,
    SettlementLine,
    SettlementOut,
    SettlementReport,
    SettlementTotals,
    StoreFunding,
    with_yuan,
    yuan,
)
from jifen.kit import timeutil
from jifen.kit.db import unique_or
from jifen.kit.errors import BadRequest, Conflict, NotFound
from jifen.kit.periods import LocalPeriod, local_today
from jifen.kit.schemas import out_of
from jifen.models import Store, VillageView
from jifen.store.schemas import receipt_number

DEFAULT_FEN_PER_POINT = 100


class PegBackdated(
    BadRequest,
    code="peg_backdated",
    detail="新的积分折算标准不能从过去的时间开始生效：已发生的兑换按当时的标准结算",
): ...


class ReceivedInFuture(BadRequest, code="received_in_future", detail="到账日期不能晚于今天"): ...


class FundNotFound(NotFound, code="fund_not_found", detail="找不到该笔资金记录"): ...


class AlreadyVoided(Conflict, code="already_voided", detail="该笔资金记录已经作废过"): ...


class AlreadySettled(Conflict, code="already_settled", detail="该积分超市的这个结算期已经结算过"): ...


class PeriodNotEnded(Conflict, code="period_not_ended", detail="结算期尚未结束，结束后才能结算"): ...


# ---------------------------------------------------------------------------------------------- the peg


def peg_out(row: PegRow | None) -> PegOut:
    if row is None:
        return PegOut(
            fen_per_point=DEFAULT_FEN_PER_POINT,
            yuan_per_point=yuan(DEFAULT_FEN_PER_POINT),
            effective_from=None,
            reason=None,
            actor_id=None,
            created_at=None,
        )
    return out_of(PegOut, row, yuan_per_point=yuan(row.fen_per_point))


async def current_peg(session: AsyncSession, village_id: uuid.UUID, at: datetime | None = None) -> PegOut:
    """The peg in force at `at` (now by default)."""
    return peg_out(await repository.peg_at(session, village_id, at or timeutil.utcnow()))


async def peg_history(session: AsyncSession, village_id: uuid.UUID) -> PegHistory:
    """Every peg, the latest first, and the one in force now: the first of them in force now (the order of
    `repository.peg_at`), from the one read."""
    rows = await repository.pegs(session, village_id)
    now = timeutil.utcnow()
    return PegHistory(
        village_id=village_id,
        current=peg_out(next((row for row in rows if row.effective_from <= now), None)),
        history=[peg_out(row) for row in rows],
    )


async def set_peg(
    session: AsyncSession,
    actor: Actor,
    village: VillageView,
    *,
    fen_per_point: int,
    effective_from: datetime | None,
    reason: str,
) -> PegHistory:
    """A new peg from `effective_from` (now when None) on. Setting the peg already in force from now is a
    no-op, so a repeated PUT changes nothing."""
    now = timeutil.utcnow()
    await repository.lock_village(session, village.id)
    if effective_from is None:
        in_force = await repository.peg_at(session, village.id, now)
        later = [row for row in await repository.pegs(session, village.id) if row.effective_from > now]
        if not later and peg_out(in_force).fen_per_point == fen_per_point and in_force is not None:
            return await peg_history(session, village.id)
        start = now
    else:
        if effective_from.tzinfo is None:  # a local time without an offset
            effective_from = effective_from.replace(tzinfo=timeutil.LOCAL_TZ)
        if effective_from < now:
            raise PegBackdated(
                f"生效时间 {timeutil.to_local(effective_from):%Y-%m-%d %H:%M} 已经过去；"
                "已发生的兑换按当时的标准结算，新标准只能从现在或以后开始"
            )
        start = effective_from
    row = await repository.insert_peg(
        session,
        village.id,
        effective_from=start,
        fen_per_point=fen_per_point,
        reason=reason,
        actor_id=actor.user_id,
    )
    after = {"fen_per_point": fen_per_point, "effective_from": start}
    await audit.record(
        session, actor, village.id, "peg.set", row.id, record_type="village_peg", after=after, reason=reason
    )
    return await peg_history(session, village.id)


# ---------------------------------------------------------------------------------------------- funds


def fund_out(row: FundRow | None) -> FundOut:
    assert row is not None  # read back in the transaction that wrote it or checked it
    voided = (
        FundVoidOut(reason=row.void_reason, actor_id=row.void_actor_id, created_at=row.voided_at)
        if row.voided_at is not None
        else None
    )
    return out_of(FundOut, row, source=FundSource(row.source), amount=yuan(row.amount_fen), voided=voided)


async def record_fund(session: AsyncSession, actor: Actor, village: VillageView, body: FundCreate) -> FundOut:
    """Money the village received for its store: from the collective, a donor or the town."""
    if body.received_on > local_today():
        raise ReceivedInFuture(f"到账日期 {body.received_on} 晚于今天，请核对")
    fund_id = uuid.uuid4()
    await repository.insert_fund(
        session,
        {
            "village_id": village.id,
            "id": fund_id,
            "source": body.source.value,
            "source_name": body.source_name,
            "amount_fen": body.amount_fen,
            "received_on": body.received_on,
            "note": body.note,
            "actor_id": actor.user_id,
        },
    )
    await audit.record(
        session,
        actor,
        village_id=village.id,
        action="fund.record",
        record_type="village_fund",
        record_id=fund_id,
        after={
            "source": body.source.value,
            "source_name": body.source_name,
            "amount_fen": body.amount_fen,
            "received_on": body.received_on.isoformat(),
        },
        reason=body.note,
    )
    return fund_out(await repository.fund_in(session, village.id, fund_id))


async def get_fund(session: AsyncSession, fund_id: uuid.UUID) -> FundOut | None:
    row = await repository.get_fund(session, fund_id)
    return None if row is None else fund_out(row)


async def list_funds(
    session: AsyncSession,
    village_id: uuid.UUID,
    *,
    source: FundSource | None = None,
    received_from: date | None = None,
    received_to: date | None = None,
    include_voided: bool = True,
    after: tuple[date, uuid.UUID] | None = None,
    limit: int = 50,
) -> list[FundOut]:
    rows = await repository.list_funds(
        session,
        village_id,
        source=source.value if source else None,
        received_from=received_from,
        received_to=received_to,
        include_voided=include_voided,
        after=after,
        limit=limit,
    )
    return [fund_out(row) for row in rows]


async def void_fund(
    session: AsyncSession, actor: Actor, village_id: uuid.UUID, fund_id: uuid.UUID, *, reason: str
) -> FundOut:
    """A fund recorded by mistake stops counting: a voiding record with a reason, once."""
    row = await repository.fund_in(session, village_id, fund_id)
    if row is None:
        raise FundNotFound()
    if row.voided_at is not None:
        raise AlreadyVoided(f"该笔资金记录已于 {timeutil.to_local(row.voided_at):%Y-%m-%d %H:%M} 作废")
    with unique_or(AlreadyVoided(), "pk_village_fund_voids"):  # voided by a concurrent request first
        await repository.insert_void(session, village_id, fund_id, reason=reason, actor_id=actor.user_id)
    await audit.record(
        session,
        actor,
        village_id=village_id,
        action="fund.void",
        record_type="village_fund",
        record_id=fund_id,
        before={"amount_fen": row.amount_fen, "voided": False},
        after={"voided": True},
        reason=reason,
    )
    return fund_out(await repository.fund_in(session, village_id, fund_id))


# ---------------------------------------------------------------------------------------------- settlement


def settlement_out(row: SettlementRow) -> SettlementOut:
    return out_of(
        SettlementOut, row, amount=yuan(row.amount_fen), difference_fen=row.amount_fen - row.report_fen
    )


async def settlement_report(session: AsyncSession, store: Store, period: LocalPeriod) -> SettlementReport:
    """What the village owes the store for the period: lines per item net of cancellations, each sale at the
    peg in force when it was made, and the cancellations made in the period."""
    village_id, starts_at, ends_at = store.village_id, period.starts_at, period.ends_at
    lines = [
        out_of(SettlementLine, row, quantity=row.sold - row.cancelled, **with_yuan(amount=row.fen))
        for row in await settlements.settlement_lines(session, village_id, store.id, starts_at, ends_at)
    ]
    cancellations = [
        out_of(
            SettlementCancellation,
            row,
            receipt_no=receipt_number(row.receipt_no),
            points=-row.total_points,
            **with_yuan(amount=-row.fen),
        )
        for row in await settlements.cancellations(session, village_id, store.id, starts_at, ends_at)
    ]
    sales, cancelled = await settlements.period_counts(session, village_id, store.id, starts_at, ends_at)
    total_fen = sum(line.amount_fen for line in lines)
    settled = await settlements.settlement_over(
        session, village_id, store.id, starts_at, ends_at, exactly=True
    )
    return SettlementReport(
        store_id=store.id,
        store_name=store.name,
        village_id=village_id,
        period=period.label,
        first_day=period.first_day,
        last_day=period.last_day,
        starts_at=starts_at,
        ends_at=ends_at,
        ended=period.has_ended(timeutil.utcnow()),
        lines=lines,
        cancellations=cancellations,
        totals=SettlementTotals(
            sales=sales,
            cancellations=cancelled,
            points=sum(line.points for line in lines),
            amount_fen=total_fen,
            amount=yuan(total_fen),
        ),
        pegs=[peg_out(row) for row in await _pegs_during(session, village_id, starts_at, ends_at)],
        settlement=None if settled is None else settlement_out(settled),
    )


async def _pegs_during(
    session: AsyncSession, village_id: uuid.UUID, starts_at: datetime, ends_at: datetime
) -> Sequence[PegRow | None]:
    rows = await repository.pegs_during(session, village_id, starts_at, ends_at)
    if not rows or rows[0].effective_from > starts_at:
        return [None, *rows]  # the default peg was in force at the start
    return rows


async def settle(
    session: AsyncSession,
    actor: Actor,
    store: Store,
    period: LocalPeriod,
    *,
    amount_fen: int | None,
    note: str,
) -> SettlementOut:
    """Record that the village paid the store for an ended period: once per store and stretch of time. The
    amount is the report's total unless the village says otherwise (the difference stays on the record)."""
    village_id = store.village_id
    if not period.has_ended(timeutil.utcnow()):
        raise PeriodNotEnded(f"结算期 {period.label} 到 {period.last_day} 才结束，结束后才能结算")
    await settlements.lock_store(session, village_id, store.id)
    # a store is settled once for any moment. SQL twin: migrations/versions/0010_funding.py
    # jifen_settlement_no_overlap (ex_store_settlements_overlap)
    earlier = await settlements.settlement_over(
        session, village_id, store.id, period.starts_at, period.ends_at, exactly=False
    )
    if earlier is not None:
        raise AlreadySettled(
            f"“{store.name}”的结算期 {earlier.period} 已于 "
            f"{timeutil.to_local(earlier.created_at):%Y-%m-%d} 结算，与 {period.label} 重叠",
            settlement_id=str(earlier.id),
        )
    report = await settlement_report(session, store, period)
    settlement_id = uuid.uuid4()
    paid = report.totals.amount_fen if amount_fen is None else amount_fen
    # the last line; the store's lock makes it unreachable
    with unique_or(AlreadySettled(), "uq_store_settlements_period", "ex_store_settlements_overlap"):
        row = await settlements.insert_settlement(
            session,
            {
                "village_id": village_id,
                "id": settlement_id,
                "store_id": store.id,
                "period": period.label,
                "starts_at": period.starts_at,
                "ends_at": period.ends_at,
                "report_points": report.totals.points,
                "report_fen": report.totals.amount_fen,
                "amount_fen": paid,
                "note": note,
                "actor_id": actor.user_id,
            },
        )
    await audit.record(
        session,
        actor,
        village_id=village_id,
        action="settlement.record",
        record_type="store_settlement",
        record_id=settlement_id,
        after={
            "store_id": store.id,
            "period": period.label,
            "report_points": report.totals.points,
            "report_fen": report.totals.amount_fen,
            "amount_fen": paid,
        },
        reason=note,
    )
    return settlement_out(row)


async def list_settlements(
    session: AsyncSession,
    store: Store,
    *,
    after: tuple[datetime, uuid.UUID] | None = None,
    limit: int = 50,
) -> list[SettlementOut]:
    rows = await settlements.list_settlements(session, store.village_id, store.id, after=after, limit=limit)
    return [settlement_out(row) for row in rows]


# ---------------------------------------------------------------------------------------------- overview


async def village_funding(
    session: AsyncSession, village: VillageView, peg: PegOut | None = None
) -> FundingOverview:
    """Is the store funded? Money in hand (received - spent) against what is owed: redemptions the stores
    have not been paid for, and every point the households still hold, at the current peg (`peg`, when the
    caller read it already)."""
    now = timeutil.utcnow()
    peg = peg or await current_peg(session, village.id, now)
    points = await overview.household_points(session, village.id)
    received = points.received
    stores = [
        out_of(StoreFunding, row, unsettled=yuan(row.unsettled_fen))
        for row in await overview.store_funding(session, village.id)
    ]
    spent = sum(s.settled_fen for s in stores)
    unsettled = sum(s.unsettled_fen for s in stores)
    outstanding = points.posted * peg.fen_per_point
    cash = received - spent
    surplus = cash - unsettled - outstanding
    amounts = with_yuan(
        outstanding=outstanding,
        funds_received=received,
        funds_spent=spent,
        cash=cash,
        unsettled=unsettled,
        surplus=surplus,
    )
    return FundingOverview.model_validate(
        {
            "village_id": village.id,
            "as_of": now,
            "peg": peg,
            "households": points.households,
            "points_outstanding": points.posted,
            "points_held": points.held,
            "funded": surplus >= 0,
            "stores": stores,
        }
        | amounts
    )
