"""The one-call counter sale without FastAPI's per-request machinery: `POST /api/v1/redemptions`.

The lane (`auth/one_call_lane.py`, shared with the award) answers the request itself only when it is of the
one-call shape and sure — JIFEN_SALE_IN_ONE_CALL on, a cached actor, a valid key sent once, a body
`RedemptionCreate` accepts, and `sale_submit` (migration 0023) answering and committing. Every refusal (the
store, who may sell there, the household, an item, stock, a limit, points, a key already used: NULL, nothing
written) and every error goes on to the router exactly as it came in, which answers it as before.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import State
from starlette.requests import Request
from starlette.types import ASGIApp, Scope

from jifen.auth.actor import Actor
from jifen.auth.one_call_lane import OneCallLane
from jifen.kit.idempotency import CallerKey
from jifen.store.auth import PendingCashier
from jifen.store.endpoints import create_redemption, router
from jifen.store.one_call import sell_in_one_call
from jifen.store.schemas import RedemptionCreate

PATH = "/api/v1/redemptions"


class OneCallSaleLane(OneCallLane[RedemptionCreate]):
    def __init__(self, app: ASGIApp, *, state: State) -> None:
        super().__init__(
            app,
            state=state,
            path=PATH,
            router=router,
            endpoint=create_redemption,
            model=RedemptionCreate,
            name="sale",
        )

    def takes(self) -> bool:
        return bool(self.state.settings.sale_in_one_call)

    async def call(
        self,
        *,
        scope: Scope,
        actor: Actor,
        body: RedemptionCreate,
        key: CallerKey,
        fingerprint: str,
    ) -> bytes | None:
        """The sale alone on one of the engine's connections, committed when it answers, or None: nothing
        written."""
        # never opened: the router's access object (PendingCashier) takes one; the call does not use it
        session: AsyncSession = self.state.sessionmaker()
        access = PendingCashier(actor, session, key.key, body.store_id)
        return await sell_in_one_call(
            request=Request(scope),
            key=key,
            fingerprint=fingerprint,
            body=body,
            access=access,
            session=session,
            engine=self.state.engine,
        )
