"""The signed-in actor, kept a few seconds per process, so a request costs no query for who is asking.

Keyed by (user id, credential version): a sign-out, a password change, a reset or a disabling raises the
version, so a token or cookie from before names a key that is never filled again. Within this process every
change to a user or their grants is forgotten at once (an ORM hook on every session: flushed and again
committed); another process of the same server sees it at most `ttl` seconds late — which is why the one-call
award re-checks the credential version inside the database, so points never move on a revoked credential.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import ORMExecuteState
from sqlalchemy.orm import Session as OrmSession

from jifen.auth.actor import Actor
from jifen.kit.db import sqlstate
from jifen.kit.errors import InvalidToken
from jifen.kit.idempotency import CallerKey
from jifen.kit.logging import REQUEST
from jifen.models import User, UserRole

_FORGET = "jifen_forget_actors"

# SQL twin: migrations/versions/0021_award_call.py award_submit and 0023_sale_call.py sale_submit raise it
# when the token's credential version is no longer the user's (a sign-out, a password change, a disabling
# another server process has not seen)
STALE_CREDENTIAL = "JF007"


@dataclass(frozen=True, slots=True)
class OneCallCaller:
    """Who calls a one-call path's database function (award_submit, sale_submit: their first seven
    arguments): the cached actor with the credential version to re-check, the request, the key."""

    actor_id: uuid.UUID
    credential_version: int
    actor_name: str  # for the audit events
    request_id: str | None
    client_addr: str | None
    # the Idempotency-Key and the request's fingerprint (kit/idempotency.py); None: the caller claimed the
    # key itself (an inspection's awards, award_submit of migration 0027)
    key: str | None
    request_hash: str | None

    def args(self) -> tuple[object, ...]:
        return tuple(getattr(self, f.name) for f in fields(self))


def one_call_caller(actor: Actor, key: CallerKey | None, fingerprint: str | None) -> OneCallCaller:
    info = REQUEST.get()
    return OneCallCaller(
        actor.user_id,
        actor.credential_version,
        actor.username,
        info.request_id,
        info.client_addr,
        key.key if key is not None else None,
        fingerprint,
    )


@contextlib.contextmanager
def credential_rechecked() -> Iterator[None]:
    """Around a one-call path's database call, which re-checks the cached actor's credential: a credential
    no longer valid is answered 401 invalid_token, as a token read anew would be."""
    try:
        yield
    except (DBAPIError, asyncpg.PostgresError) as exc:
        if sqlstate(exc) == STALE_CREDENTIAL:
            raise InvalidToken() from None
        raise


class ActorCache:
    """A bounded, time-limited map (user id, credential version) → Actor; least recently filled goes first."""

    def __init__(self, ttl_seconds: float = 2.0, size: int = 4096) -> None:
        self.ttl = ttl_seconds
        self.size = size
        self._entries: OrderedDict[tuple[uuid.UUID, int], tuple[float, Actor]] = OrderedDict()

    def get(self, user_id: uuid.UUID, version: int) -> Actor | None:
        entry = self._entries.get((user_id, version))
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            self._entries.pop((user_id, version), None)
            return None
        return entry[1]

    def put(self, actor: Actor) -> None:
        if self.ttl <= 0:
            return
        key = (actor.user_id, actor.credential_version)
        self._entries[key] = (time.monotonic() + self.ttl, actor)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()

    def forget(self, user_ids: set[uuid.UUID]) -> None:
        if user_ids and self._entries:
            for key in [k for k in self._entries if k[0] in user_ids]:
                del self._entries[key]


ACTORS = ActorCache()


def configure(ttl_seconds: float, size: int) -> None:
    """The server's settings (JIFEN_ACTOR_CACHE_SECONDS, 0 turns the cache off)."""
    ACTORS.ttl, ACTORS.size = ttl_seconds, size
    ACTORS.clear()


def _touched_users(session: OrmSession, flush_context: Any) -> None:
    users = {
        obj.id if isinstance(obj, User) else obj.user_id
        for obj in (*session.new, *session.dirty, *session.deleted)
        if isinstance(obj, User | UserRole)
    }
    if users:
        ACTORS.forget(users)
        session.info.setdefault(_FORGET, set()).update(users)


_ACTOR_TABLES = frozenset({"users", "user_roles"})
_EVERYONE = "jifen_forget_all_actors"


def _bulk_change(state: ORMExecuteState) -> None:
    """An UPDATE or DELETE statement on users or their grants (an operator's fix, a test): whom it touched
    is not known, so every cached actor goes."""
    if state.is_update or state.is_delete:
        table = getattr(state.statement, "table", None)
        if getattr(table, "name", None) in _ACTOR_TABLES:
            ACTORS.clear()
            state.session.info[_EVERYONE] = True


def _committed(session: OrmSession) -> None:
    # forgotten again once the change is visible: a request that read the old row meanwhile cached it
    ACTORS.forget(session.info.pop(_FORGET, set()))
    if session.info.pop(_EVERYONE, False):
        ACTORS.clear()


def _rolled_back(session: OrmSession) -> None:
    session.info.pop(_FORGET, None)
    session.info.pop(_EVERYONE, None)


event.listen(OrmSession, "after_flush", _touched_users)
event.listen(OrmSession, "do_orm_execute", _bulk_change)
event.listen(OrmSession, "after_commit", _committed)
event.listen(OrmSession, "after_soft_rollback", lambda session, previous: _rolled_back(session))
