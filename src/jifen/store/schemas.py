from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, model_validator

from jifen.kit.schemas import Code, InputModel, Name, Reason
from jifen.models import Period, RedemptionStatus

Unit = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=16)]
Category = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]
PictureUrl = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=500, pattern=r"^(https?://|/)[^\s\x00-\x1f]*$")
]
PricePoints = Annotated[int, Field(ge=1, le=1_000_000, description="price of one unit in points")]
StockQuantity = Annotated[int, Field(ge=0, le=1_000_000)]
Quantity = Annotated[int, Field(ge=1, le=1_000_000)]


def receipt_number(receipt_no: int) -> str:
    return f"{receipt_no:08d}"


# a receipt's number as printed, eight digits; a row's integer is written so on the way in
ReceiptNo = Annotated[str, BeforeValidator(lambda n: receipt_number(n) if isinstance(n, int) else n)]


class StoreCreate(InputModel):
    name: Name


class StorePatch(InputModel):
    name: Name | None = None
    active: bool | None = Field(None, description="false pauses the store: no sales until it is active again")


class StoreOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    village_id: uuid.UUID
    name: str
    active: bool


class ItemLimit(InputModel):
    count: Annotated[int, Field(ge=1, le=100_000, description="at most this many units per household")]
    period: Period = Field(description="per local (Asia/Shanghai) day, week, month, quarter or year")


class ItemCreate(InputModel):
    name: Name
    price_points: PricePoints
    stock: StockQuantity = 0
    unit: Unit | None = None
    category: Category | None = None
    limit: ItemLimit | None = None
    picture_url: PictureUrl | None = None
    active: bool = True


class ItemPatch(InputModel):
    """Only the fields sent change; `limit: null` removes the limit. Stock changes by restock or sale."""

    name: Name | None = None
    price_points: PricePoints | None = None
    unit: Unit | None = None
    category: Category | None = None
    limit: ItemLimit | None = None
    picture_url: PictureUrl | None = None
    active: bool | None = None


class ItemOut(BaseModel):
    id: uuid.UUID
    store_id: uuid.UUID
    name: str
    price_points: int
    stock: int = Field(description="units on the shelf, reserved ones included")
    reserved: int = Field(0, description="units set aside for pickup codes (预约兑换)")
    available: int = Field(0, description="units that can still be sold or reserved: stock - reserved")
    active: bool
    unit: str | None
    category: str | None
    limit: ItemLimit | None
    picture_url: str | None
    created_at: datetime


class Restock(InputModel):
    quantity: Quantity
    note: Reason | None = None


class RedemptionLineIn(InputModel):
    item_id: uuid.UUID
    quantity: Annotated[int, Field(ge=1, le=10_000)]


class RedemptionCreate(InputModel):
    store_id: uuid.UUID
    household_id: uuid.UUID | None = None
    household_code: Code | None = Field(
        None, description="the household's code (typed, or read by a barcode scanner) instead of its id"
    )
    lines: Annotated[list[RedemptionLineIn], Field(min_length=1, max_length=100)]

    @model_validator(mode="after")
    def _one_household(self) -> RedemptionCreate:
        if (self.household_id is None) == (self.household_code is None):
            raise ValueError("请给出户的编号或户号，二者只填一个")
        return self


class RedemptionCancel(InputModel):
    reason: Reason


class RedemptionLineOut(BaseModel):
    item_id: uuid.UUID
    name: str
    quantity: int
    price_points: int
    line_points: int


class RedemptionOut(BaseModel):
    id: uuid.UUID
    receipt_no: ReceiptNo = Field(description="the number printed on the receipt")
    status: RedemptionStatus
    store_id: uuid.UUID
    household_id: uuid.UUID
    household_code: str
    total_points: int
    lines: list[RedemptionLineOut]
    transaction_id: uuid.UUID
    balance_after: int = Field(description="the household's posted balance right after this change")
    clerk_id: uuid.UUID
    created_at: datetime
    cancel_transaction_id: uuid.UUID | None = None
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None


class ReservationCreate(InputModel):
    store_id: uuid.UUID
    household_id: uuid.UUID | None = Field(
        None, description="the villager's own household; may be left out when the villager has only one"
    )
    lines: Annotated[list[RedemptionLineIn], Field(min_length=1, max_length=100)]


class ReservationRedeem(InputModel):
    store_id: uuid.UUID
    code: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9]{6}$")] = Field(
        description="the 6-digit pickup code the villager shows (typed, or read from its QR code)"
    )


class ReservationCancel(InputModel):
    reason: Reason | None = None


class ReservationStatus(StrEnum):
    active = "active"
    redeemed = "redeemed"
    cancelled = "cancelled"
    expired = "expired"


class ReservationOut(BaseModel):
    id: uuid.UUID
    code: str | None = Field(
        description="the pickup code; unique among the village's active reservations. Shown to the household "
        "and the store's staff (its clerk, the village admin) only; null for anyone else"
    )
    qr_payload: str | None = Field(
        description="what the pickup code's QR code encodes: the code itself, as the counter accepts it; "
        "null whenever `code` is"
    )
    status: ReservationStatus
    store_id: uuid.UUID
    household_id: uuid.UUID
    total_points: int
    lines: list[RedemptionLineOut]
    hold_id: uuid.UUID
    expires_at: datetime
    created_at: datetime
    created_by: uuid.UUID
    ended_at: datetime | None = None
    end_reason: str | None = None
    redemption_id: uuid.UUID | None = None


class SaleOut(BaseModel):
    id: uuid.UUID
    receipt_no: ReceiptNo
    status: RedemptionStatus
    household_id: uuid.UUID
    household_code: str
    head_name: str
    total_points: int
    lines: int
    created_at: datetime
    cancelled_at: datetime | None
