from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, Field, StringConstraints

from jifen.kit.schemas import Grid, InputModel, Name, Reason
from jifen.models import AwardStatus

Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
Quantity = Annotated[int, Field(ge=1, le=1000, description="how many times the rule applies")]
MAX_BATCH = 10_000
MAX_PHOTOS = 9
PhotoIds = Annotated[
    list[uuid.UUID],
    Field(max_length=MAX_PHOTOS, description="evidence photos (证据照片) uploaded to the village first"),
]

ObservedAt = Annotated[
    AwareDatetime | None,
    Field(
        description="when the deed was seen, for an award scored offline and sent later (with its offset); "
        "caps and periods follow it. At most `JIFEN_OBSERVED_MAX_AGE_DAYS` (7) days old, else 409 "
        "`observed_too_long_ago`; later than now (beyond a few minutes of clock skew): 400 "
        "`observed_in_future`. Absent: when the server receives it"
    ),
]


class AwardItem(InputModel):
    household_id: uuid.UUID
    rule_id: uuid.UUID
    quantity: Quantity = 1
    member_id: uuid.UUID | None = None
    note: Note | None = None
    photo_ids: PhotoIds = Field(default_factory=list)
    observed_at: ObservedAt = None


class AwardCreate(AwardItem):
    pass


class AwardBatchCreate(InputModel):
    items: Annotated[list[AwardItem], Field(min_length=1, max_length=MAX_BATCH)]


class AwardOut(BaseModel):
    id: uuid.UUID
    status: AwardStatus
    points: int
    transaction_id: uuid.UUID | None
    household_id: uuid.UUID
    rule_id: uuid.UUID
    rule_version: int
    quantity: int
    member_id: uuid.UUID | None
    note: str | None
    created_at: datetime
    notice_until: datetime | None = None  # on public notice (公示) until then
    photo_ids: list[uuid.UUID] = []
    self_report: bool = False  # 自主申报: filed by a villager of the household
    submitted_by: uuid.UUID | None = None
    observed_at: datetime | None = None  # scored offline: when the deed was seen (created_at: received)


class SelfReportCreate(InputModel):
    rule_id: uuid.UUID
    note: Note | None = None
    photo_ids: PhotoIds = Field(default_factory=list)
    quantity: Quantity = 1
    member_id: uuid.UUID | None = None


class AwardBatchOut(BaseModel):
    items: list[AwardOut]


class DecisionIn(InputModel):
    reason: Reason | None = None


class RejectIn(InputModel):
    reason: Reason


class ObjectionIn(InputModel):
    reason: Reason


class InspectionCreate(InputModel):
    grid: Grid
    inspected_on: date
    rule_ids: Annotated[list[uuid.UUID], Field(min_length=1, max_length=50)]
    judges: Annotated[list[Name], Field(min_length=1, max_length=9, description="the judges' names")]


class SheetRule(BaseModel):
    id: uuid.UUID
    code: str
    name: str
    category: str
    points: int
    review: str


class SheetHousehold(BaseModel):
    id: uuid.UUID
    code: str
    head_name: str


class SheetOut(BaseModel):
    id: uuid.UUID
    village_id: uuid.UUID
    grid: str
    inspected_on: date
    judges: list[str]
    status: str
    rules: list[SheetRule]
    households: list[SheetHousehold]
    awards: int | None
    submitted_at: datetime | None


class InspectionScores(InputModel):
    scores: Annotated[list[AwardItem], Field(max_length=MAX_BATCH)]


class InspectionResult(BaseModel):
    inspection: SheetOut
    awards: list[AwardOut]


# an award as the notice board and the review queue show it, with the household, the rule and the submitter
class BoardAward(BaseModel):
    id: uuid.UUID
    status: AwardStatus
    points: int
    quantity: int
    note: str | None
    household_id: uuid.UUID
    household_code: str
    head_name: str
    grid: str | None
    rule_id: uuid.UUID
    rule_code: str
    rule_name: str
    rule_category: str
    review: str
    submitted_by: uuid.UUID
    submitted_by_name: str
    approvals: list[str]
    open_objections: int
    photo_ids: list[uuid.UUID]
    self_report: bool
    created_at: datetime
    notice_until: datetime | None
