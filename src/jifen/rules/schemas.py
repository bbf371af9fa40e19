from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, StringConstraints, model_validator

from jifen.kit.schemas import Code, InputModel, Name
from jifen.models import Period, Review

Category = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]
Share = Annotated[int, Field(ge=1, le=100, description="percent of a deduction returned after 整改")]
Escalation = Annotated[
    list[Annotated[int, Field(ge=1, le=100000)]],
    Field(min_length=1, max_length=10, description="points taken by the 1st, 2nd, 3rd… repeat deduction"),
]


def _not_zero(points: int) -> int:
    if points == 0:
        raise ValueError("分值不能为 0")
    return points


def _in_order(active_from: date | None, active_until: date | None) -> None:
    if active_from and active_until and active_from > active_until:
        raise ValueError("启用日期不能晚于停用日期")


Points = Annotated[
    int, Field(ge=-100000, le=100000, description="signed points per unit; not 0"), AfterValidator(_not_zero)
]


class Cap(InputModel):
    count: Annotated[int, Field(ge=1, le=10_000_000, description="at most this many points per period")]
    period: Period


class RuleCreate(InputModel):
    code: Code
    name: Name
    category: Category
    points: Points
    cap: Cap | None = None
    evidence_required: bool = False
    review: Review = Review.none
    rectification_share: Share | None = None
    escalation: Escalation | None = None
    active_from: date | None = None
    active_until: date | None = None

    @model_validator(mode="after")
    def _share_for_deductions(self) -> RuleCreate:
        if self.rectification_share is not None and self.points > 0:
            raise ValueError("整改返还比例只适用于扣分细则（负分）")
        if self.escalation is not None and self.points > 0:
            raise ValueError("累进扣分只适用于扣分细则（负分）")
        _in_order(self.active_from, self.active_until)
        return self


class RulePatch(InputModel):
    name: Name | None = None
    category: Category | None = None
    points: Points | None = None
    cap: Cap | None = None
    evidence_required: bool | None = None
    review: Review | None = None
    rectification_share: Share | None = None
    escalation: Escalation | None = None
    active_from: date | None = None
    active_until: date | None = None
    active: bool | None = None

    @model_validator(mode="after")
    def _period_in_order(self) -> RulePatch:
        _in_order(self.active_from, self.active_until)
        return self


class CapOut(BaseModel):
    count: int
    period: Period


class RuleOut(BaseModel):
    id: uuid.UUID
    village_id: uuid.UUID
    code: str
    version: int
    name: str
    category: str
    points: int
    cap: CapOut | None
    evidence_required: bool
    review: Review
    rectification_share: int | None
    escalation: list[int] | None
    active_from: date | None
    active_until: date | None
    active: bool
    created_at: datetime
