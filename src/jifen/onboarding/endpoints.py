from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from jifen.households.auth import VillageAdmin
from jifen.kit.db import Session
from jifen.kit.errors import Forbidden, NotAuthenticated, NotFound, error_responses
from jifen.onboarding import service

router = APIRouter(tags=["villages"])


class StepOut(BaseModel):
    key: str = Field(description="households, rules, store, staff, award, redemption")
    label: str
    done: bool
    hint: str


class ChecklistOut(BaseModel):
    done: bool = Field(description="every step is done: the village is live")
    steps: list[StepOut]


@router.get(
    "/villages/{village_id}/checklist",
    response_model=ChecklistOut,
    responses=error_responses(NotAuthenticated, Forbidden, NotFound),
)
async def village_checklist(access: VillageAdmin, session: Session) -> ChecklistOut:
    """开通清单: the steps from a new village to its first redemption (households imported, rules chosen,
    store and catalogue, staff, first award, first redemption), each done or not, computed from the data."""
    steps = await service.checklist(session, access.village.id)
    return ChecklistOut(
        done=all(s.done for s in steps),
        steps=[StepOut(key=s.key, label=s.label, done=s.done, hint=s.hint) for s in steps],
    )
