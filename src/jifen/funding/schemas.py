from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from jifen.kit.schemas import PRINTABLE, InputModel, Name, Reason

MAX_FEN = 100_000_000_000  # ¥1,000,000,000: far above any village's budget, far below bigint

FenPerPoint = Annotated[
    int, Field(ge=1, le=1_000_000, description="what one point is worth, in fen (100 = ¥1 per point)")
]
PeriodText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=4, max_length=32, pattern=PRINTABLE),
]


def yuan(fen: int) -> str:
    """Integer fen as a person reads it: 1250 → "¥12.50", -300 → "-¥3.00"."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}¥{whole:,}.{cents:02d}"


def with_yuan(**fen: int) -> dict[str, int | str]:
    """Each amount in fen as `<name>_fen`, and beside it `<name>` in yuan as a person reads it."""
    return {key: value for name, f in fen.items() for key, value in ((f"{name}_fen", f), (name, yuan(f)))}


# ---------------------------------------------------------------------------------------------- the peg


class PegSet(InputModel):
    fen_per_point: FenPerPoint
    effective_from: datetime | None = Field(
        None, description="when the new peg starts (now when left out); never in the past"
    )
    reason: Reason


class PegOut(BaseModel):
    fen_per_point: int
    yuan_per_point: str = Field(description='the peg as a person reads it, e.g. "¥1.00"')
    effective_from: datetime | None = Field(description="null: the default peg, never set by the village")
    reason: str | None
    actor_id: uuid.UUID | None
    created_at: datetime | None


class PegHistory(BaseModel):
    village_id: uuid.UUID
    current: PegOut = Field(description="the peg in force now")
    history: list[PegOut] = Field(description="every peg the village set, the newest effective_from first")


# ---------------------------------------------------------------------------------------------- funds


class FundSource(StrEnum):
    collective = "collective"  # 村集体
    donor = "donor"  # 乡贤、企业捐赠
    town = "town"  # 镇街拨款
    other = "other"


class FundCreate(InputModel):
    source: FundSource
    source_name: Name = Field(description="who gave it, e.g. 村集体经济合作社, 某某公司, 某某镇人民政府")
    amount_fen: Annotated[int, Field(gt=0, le=MAX_FEN, description="how much, in fen (¥1 = 100)")]
    received_on: date = Field(description="the local date the money arrived; not in the future")
    note: Reason | None = None


class FundVoid(InputModel):
    reason: Reason


class FundVoidOut(BaseModel):
    reason: str
    actor_id: uuid.UUID
    created_at: datetime


class FundOut(BaseModel):
    id: uuid.UUID
    village_id: uuid.UUID
    source: FundSource
    source_name: str
    amount_fen: int
    amount: str = Field(description='the amount in yuan, e.g. "¥5,000.00"')
    received_on: date
    note: str | None
    actor_id: uuid.UUID
    created_at: datetime
    voided: FundVoidOut | None = Field(
        None, description="set when the record was voided: it no longer counts"
    )


# ---------------------------------------------------------------------------------------------- settlement


class SettlementLine(BaseModel):
    item_id: uuid.UUID
    name: str
    unit: str | None
    sold: int = Field(description="units sold in the period")
    cancelled: int = Field(description="units whose sale was cancelled in the period (sold then or earlier)")
    quantity: int = Field(description="sold - cancelled")
    points: int = Field(description="points taken, net of cancellations")
    amount_fen: int = Field(
        description="money owed for the line, each sale at the peg in force when it happened"
    )
    amount: str


class SettlementCancellation(BaseModel):
    redemption_id: uuid.UUID
    receipt_no: str
    household_code: str
    sold_at: datetime
    cancelled_at: datetime
    sold_in_period: bool = Field(
        description="false: the sale belongs to an earlier period, already counted there"
    )
    reason: str
    points: int = Field(description="negative: what the cancellation takes off the period")
    amount_fen: int = Field(description="negative, at the peg of the original sale")
    amount: str


class SettlementTotals(BaseModel):
    sales: int = Field(description="sales made in the period")
    cancellations: int = Field(description="cancellations made in the period")
    points: int
    amount_fen: int
    amount: str


class SettlementOut(BaseModel):
    id: uuid.UUID
    store_id: uuid.UUID
    period: str
    starts_at: datetime
    ends_at: datetime
    report_points: int = Field(description="the report's net points when the payment was recorded")
    report_fen: int = Field(description="the report's total when the payment was recorded")
    amount_fen: int = Field(description="what the village paid the store")
    amount: str
    difference_fen: int = Field(description="amount_fen - report_fen: 0 when paid exactly what was owed")
    note: str
    actor_id: uuid.UUID
    created_at: datetime


class SettlementReport(BaseModel):
    store_id: uuid.UUID
    store_name: str
    village_id: uuid.UUID
    period: str
    first_day: date
    last_day: date = Field(description="included")
    starts_at: datetime
    ends_at: datetime = Field(description="exclusive")
    ended: bool = Field(description="false: the period is still running and its report may still grow")
    lines: list[SettlementLine]
    cancellations: list[SettlementCancellation]
    totals: SettlementTotals
    pegs: list[PegOut] = Field(description="the pegs in force during the period, the earliest first")
    settlement: SettlementOut | None = Field(
        description="the payment recorded for exactly this period, if any"
    )


class SettlementCreate(InputModel):
    period: PeriodText = Field(description="2026-11, 2026-Q4, 2026 or 2026-11-01/2026-11-15 (local dates)")
    amount_fen: Annotated[int, Field(ge=-MAX_FEN, le=MAX_FEN)] | None = Field(
        None, description="what was paid, in fen; the report's total when left out"
    )
    note: Reason


# ---------------------------------------------------------------------------------------------- overview


class StoreFunding(BaseModel):
    store_id: uuid.UUID
    name: str
    settled_fen: int = Field(description="paid to the store so far")
    unsettled_points: int
    unsettled_fen: int = Field(description="redeemed at the store and not yet covered by a settlement")
    unsettled: str
    last_settled_period: str | None


class FundingOverview(BaseModel):
    village_id: uuid.UUID
    as_of: datetime
    peg: PegOut
    households: int
    points_outstanding: int = Field(description="all households' posted balances")
    points_held: int = Field(description="of which held for pickup codes")
    outstanding_fen: int = Field(description="their money value at the current peg")
    outstanding: str
    funds_received_fen: int = Field(description="funds recorded and not voided")
    funds_received: str
    funds_spent_fen: int = Field(description="settlements paid to the stores")
    funds_spent: str
    cash_fen: int = Field(description="received - spent")
    cash: str
    unsettled_fen: int = Field(description="redeemed but not yet settled: owed to the stores")
    unsettled: str
    surplus_fen: int = Field(description="cash - unsettled - outstanding; below zero is a shortfall")
    surplus: str
    funded: bool = Field(description="true when the money covers what is owed and every point outstanding")
    stores: list[StoreFunding]
