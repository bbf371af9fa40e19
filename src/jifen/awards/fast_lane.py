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

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from starlette.datastructures import State
from starlette.types import ASGIApp, Scope

from jifen.auth.actor import Actor
from jifen.auth.one_call_lane import OneCallLane
from jifen.awards.auth import PendingSubmission
from jifen.awards.endpoints import create_award, router
from jifen.awards.schemas import AwardCreate
from jifen.awards.service import OnConnection, submit_in_one_call
from jifen.kit.db import raw_connection
from jifen.kit.idempotency import CallerKey
from jifen.kit.metrics import count_committed

PATH = "/api/v1/awards"


class OneCallAwardLane(OneCallLane[AwardCreate]):
    def __init__(self, app: ASGIApp, *, state: State) -> None:
        super().__init__(
            app, state=state, path=PATH, router=router, endpoint=create_award, model=AwardCreate, name="award"
        )

    async def call(
        self, *, scope: Scope, actor: Actor, body: AwardCreate, key: CallerKey, fingerprint: str
    ) -> bytes | None:
        """The one call on a pooled driver connection, committed when it answers: the answer, or None
        (award_submit answered NULL: nothing written). An error (rolled back, or a commit whose outcome is
        unknown, which the router's replay of the key settles) goes to the lane, which falls through."""
        # never opened: `submit_in_one_call` takes the actor from it, and runs `on` the driver connection
        session: AsyncSession = self.state.sessionmaker()
        access = PendingSubmission(actor, session, key.key, [body.household_id])
        engine: AsyncEngine = self.state.engine
        async with raw_connection(engine) as connection:
            on = OnConnection(connection)
            answer = await submit_in_one_call(
                key=key, fingerprint=fingerprint, body=body, access=access, session=session, on=on
            )
        if answer is not None:
            count_committed(on.posted)
        return answer
