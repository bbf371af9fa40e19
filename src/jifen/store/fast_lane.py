"""The one-call counter sale without FastAPI's per-request machinery: `POST /api/v1/redemptions`.

The lane (`auth/one_call_lane.py`, shared with the award) answers the request itself only when it is of the
one-call shape and sure — JIFEN_SALE_IN_ONE_CALL on, a cached actor, a valid key sent once, a body
`RedemptionCreate` accepts, and `sale_submit` (migration 0023) answering and committing. Every refusal (the
store, who may sell there, the household, an item, stock, a limit, points, a key already used: NULL, nothing
written) and every error goes on to the router exactly as it came in, which answers it as before.
"""

from __future__ import annotations

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.datastructures import State
from starlette.requests import Request
from starlette.types import ASGIApp, Scope

from jifen.auth.actor import Actor
from jifen.auth.one_call_lane import OneCallLane
from jifen.kit.idempotency import CallerKey, fingerprint
from jifen.store.auth import PendingCashier
from jifen.store.endpoints import create_redemption, router
from jifen.store.one_call import sell_in_one_call
from jifen.store.schemas import RedemptionCreate

PATH = "/api/v1/redemptions"

log = structlog.get_logger(__name__)


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

    async def _one_call(
        self, scope: Scope, actor: Actor, body: RedemptionCreate, key: CallerKey
    ) -> bytes | None:
        """The shared lane's, less the session it opens, commits and closes around the call: the sale
        commits on a connection of its own (`call`), so that session would stay empty (~0.1 ms of Python a
        sale, measured). Any error: nothing committed, the router answers."""
        structlog.contextvars.bind_contextvars(actor_id=str(actor.user_id))
        sessionmaker: async_sessionmaker[AsyncSession] = self.state.sessionmaker
        request_hash = fingerprint(scope["method"], scope["path"], body)
        try:
            # the session is only the router's signature's (PendingCashier); it is never used here
            return await self.call(
                scope=scope, actor=actor, body=body, key=key, fingerprint=request_hash, session=sessionmaker()
            )
        except Exception as exc:  # the general path runs again and answers it (a fault: its 503)
            log.info(self.fell_through, error=type(exc).__name__)
        return None

    async def call(
        self,
        *,
        scope: Scope,
        actor: Actor,
        body: RedemptionCreate,
        key: CallerKey,
        fingerprint: str,
        session: AsyncSession,
    ) -> bytes | None:
        """The sale in a transaction of its own on one of the engine's connections, committed when this
        returns (`session` stays untouched: the lane's commit of it is empty), or None: nothing written."""
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
