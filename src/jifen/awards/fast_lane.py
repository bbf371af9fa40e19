"""The one-call award without FastAPI's per-request machinery: `POST /api/v1/awards` in its common shape.

The lane (`auth/one_call_lane.py`, shared with the counter sale) answers the request itself only when it is
of the one-call shape and sure — a cached actor, a valid key sent once, a body `AwardCreate` accepts, and
`award_submit` (migration 0021) answering and committing; anything else goes on to the router exactly as it
came in, which answers it as before.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import State
from starlette.types import ASGIApp, Scope

from jifen.auth.actor import Actor
from jifen.auth.one_call_lane import OneCallLane
from jifen.awards.auth import PendingSubmission
from jifen.awards.endpoints import create_award, router
from jifen.awards.schemas import AwardCreate
from jifen.awards.service import submit_in_one_call
from jifen.kit.idempotency import CallerKey

PATH = "/api/v1/awards"


class OneCallAwardLane(OneCallLane[AwardCreate]):
    def __init__(self, app: ASGIApp, *, state: State) -> None:
        super().__init__(
            app, state=state, path=PATH, router=router, endpoint=create_award, model=AwardCreate, name="award"
        )

    async def call(
        self,
        *,
        scope: Scope,
        actor: Actor,
        body: AwardCreate,
        key: CallerKey,
        fingerprint: str,
        session: AsyncSession,
    ) -> bytes | None:
        access = PendingSubmission(actor, session, key.key, [body.household_id])
        return await submit_in_one_call(
            key=key, fingerprint=fingerprint, body=body, access=access, session=session
        )
