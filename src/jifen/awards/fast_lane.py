"""The one-call award without FastAPI's per-request machinery: `POST /api/v1/awards` in its common shape.

The lane (`auth/one_call_lane.py`, shared with the counter sale) answers the request itself only when it is of
the one-call shape and sure — a cached actor, a valid key sent once, a body `AwardCreate` accepts, and
`award_submit` (migrations 0021, 0028, 0029) answering and committing; anything else goes on to the router
exactly as it came in, which answers it as before.

The award's lane runs its one call on a pooled driver connection of its own, not in an ORM session, as one
statement in a transaction of its own (PostgreSQL's implicit one: the statement commits when it answers;
`tests/awards/test_one_call.py` counts the statements): without the session's per-request machinery (its
construction, greenlet switches, the ORM's commit), which measured about a fifth of the lane's own Python per
award, and without a BEGIN and a COMMIT of their own (two round trips, each an await of the event loop).
"""

from __future__ import annotations

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from starlette.datastructures import State
from starlette.types import ASGIApp, Scope

from jifen.auth.actor import Actor
from jifen.auth.one_call_lane import OneCallLane, log
from jifen.awards.auth import PendingSubmission
from jifen.awards.endpoints import create_award, router
from jifen.awards.schemas import AwardCreate
from jifen.awards.service import OnConnection, submit_in_one_call
from jifen.kit.db import raw_connection
from jifen.kit.idempotency import CallerKey, fingerprint
from jifen.kit.metrics import count_committed

PATH = "/api/v1/awards"


class OneCallAwardLane(OneCallLane[AwardCreate]):
    def __init__(self, app: ASGIApp, *, state: State) -> None:
        super().__init__(
            app, state=state, path=PATH, router=router, endpoint=create_award, model=AwardCreate, name="award"
        )

    async def _one_call(self, scope: Scope, actor: Actor, body: AwardCreate, key: CallerKey) -> bytes | None:
        """The one call on a pooled driver connection, committed when it answers: the answer, or None
        (award_submit answered NULL: nothing written; an error: rolled back, or a commit whose outcome is
        unknown, which the router's replay of the key settles)."""
        structlog.contextvars.bind_contextvars(actor_id=str(actor.user_id))
        request_hash = fingerprint(scope["method"], scope["path"], body)
        # never opened: `submit_in_one_call` takes the actor from it, and runs `on` the driver connection
        session: AsyncSession = self.state.sessionmaker()
        access = PendingSubmission(actor, session, key.key, [body.household_id])
        engine: AsyncEngine = self.state.engine
        try:
            async with raw_connection(engine) as connection:
                on = OnConnection(connection)
                answer = await submit_in_one_call(
                    key=key, fingerprint=request_hash, body=body, access=access, session=session, on=on
                )
        except Exception as exc:  # the general path runs again and answers it (a fault: its 503)
            log.info(self.fell_through, error=type(exc).__name__)
            return None
        if answer is None:
            return None  # nothing was written: the router answers
        count_committed(on.posted)
        return answer
