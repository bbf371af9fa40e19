"""The counter sale in one database call: `POST /redemptions` as BEGIN, `sale_submit(...)` (migration 0023),
COMMIT — the store, who may sell there, the household, the key, the items, the limits, the points, the
posting, the sale, its audit and outbox events and the stored answer, all in that call. Anything it does not
answer (a refusal, or the setting JIFEN_SALE_IN_ONE_CALL off) goes on to `service.redeem` unchanged."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from jifen.auth.actor_cache import credential_rechecked, one_call_caller
from jifen.kit import timeutil
from jifen.kit.idempotency import CallerKey, is_valid_key
from jifen.kit.metrics import count_committed, count_posted
from jifen.models import TransactionKind
from jifen.store.auth import PendingCashier
from jifen.store.repository import sales as sale_rows
from jifen.store.schemas import RedemptionCreate
from jifen.store.service import basket_of


async def sell_in_one_call(
    *,
    request: Request,
    key: CallerKey,
    fingerprint: str,
    body: RedemptionCreate,
    access: PendingCashier,
    session: AsyncSession,
    engine: AsyncEngine | None = None,
    **_: object,
) -> bytes | None:
    """The counter sale as one database call (`sale_submit`, migration 0023), answer included: the JSON to
    send, stored with the key. None when it is switched off (JIFEN_SALE_IN_ONE_CALL) or refused: nothing was
    written, and the endpoint runs `redeem` as before (its refusals, codes and messages unchanged).

    With `engine` (the sale's lane, store/fast_lane.py), the call runs in a transaction of its own on one of
    the engine's connections, committed before this returns, and `session` is left untouched; without it,
    in `session`'s transaction, which the caller commits."""
    if not request.app.state.settings.sale_in_one_call or not is_valid_key(key.key):
        return None  # no usable key: refused after the access checks (PendingCashier)
    wanted = basket_of(body.lines)
    call = sale_rows.OneCall(
        caller=one_call_caller(access.actor, key, fingerprint),
        now=timeutil.utcnow(),
        store_id=body.store_id,
        household_id=body.household_id,
        household_code=body.household_code if body.household_id is None else None,
        item_ids=list(wanted),
        quantities=list(wanted.values()),
    )
    with credential_rechecked():
        if engine is not None:
            answer = await sale_rows.submit_committed(engine, call)
            if answer is not None:
                count_committed([TransactionKind.redemption.value])
        else:
            answer = await sale_rows.submit_in_one_call(session, call)
            if answer is not None:
                count_posted(session, [TransactionKind.redemption.value])
    return None if answer is None else answer.encode()
