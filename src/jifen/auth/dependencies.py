"""Role checks as FastAPI dependencies: endpoints declare who may call them and never check by hand."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Annotated, Generic, Protocol, TypeVar

import structlog
from fastapi import Depends, Header, Request
from fastapi.security import OAuth2PasswordBearer
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.auth import browser, repository
from jifen.auth.actor import Actor
from jifen.auth.actor_cache import ACTORS
from jifen.auth.tokens import TokenSubject, read_token
from jifen.kit.db import PageRoute, Session
from jifen.kit.errors import Forbidden, InvalidToken, JifenError, NotAuthenticated, NotFound
from jifen.kit.idempotency import CallerKey, IdempotencyKeyRequired, is_valid_key, valid_key
from jifen.models import Role

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


class PasswordChangeRequired(
    JifenError,
    code="password_change_required",
    status=403,
    detail="管理员已重置您的密码，请先修改密码再继续使用",
): ...


def is_page(request: Request) -> bool:
    """A page (HTML, signed in by cookie) rather than the JSON API or an operator's endpoint (signed in by
    bearer token only, so that no other site can make a browser call them with its cookie)."""
    return isinstance(request.scope.get("route"), PageRoute)


def _subject(request: Request, token: str | None) -> TokenSubject:
    settings = request.app.state.settings
    if token:
        subject = read_token(settings, token)
        if subject is None:
            raise InvalidToken()
        return subject
    web = browser.read(settings, request) if is_page(request) else None
    if web is None:
        raise NotAuthenticated()
    return TokenSubject(web.user_id, web.credential_version)


async def get_signed_in_actor(
    request: Request, session: Session, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> Actor:
    """The user a valid token (or, on a page, the session cookie) names, at its credential version, even one
    who must change their password (for the calls on their own account only). Pages and the API share this
    one loader, so a sign-out, a password change or a disabling ends both at once. Kept a few seconds per
    process (`actor_cache.py`): no query for it on most requests."""
    subject = _subject(request, token)
    actor = ACTORS.get(subject.user_id, subject.credential_version)
    if actor is None:
        actor = await repository.load_actor(session, subject.user_id, subject.credential_version)
        if actor is None:
            raise InvalidToken()
        ACTORS.put(actor)
    structlog.contextvars.bind_contextvars(actor_id=str(actor.user_id))
    return actor


# the signed-in user, whatever state their password is in: /auth/me, /auth/password, /auth/logout
SignedInActor = Annotated[Actor, Depends(get_signed_in_actor)]


async def get_actor(actor: SignedInActor) -> Actor:
    if actor.must_change_password:
        raise PasswordChangeRequired()
    return actor


CurrentActor = Annotated[Actor, Depends(get_actor)]


def authorize(actor: Actor, village_id: uuid.UUID, allowed: Iterable[Role], *, town_admin: bool) -> None:
    """404 when the actor has nothing to do with the village (its records must not leak), else 403."""
    if actor.is_town_admin:
        if town_admin:
            return
        raise Forbidden("镇管理员不能执行此村级操作")
    held = actor.roles_in(village_id)
    if not held:
        raise NotFound()
    if not held & set(allowed):
        raise Forbidden()


def require_town_admin(actor: CurrentActor) -> Actor:
    if not actor.is_town_admin:
        raise Forbidden("只有镇管理员可以执行此操作")
    return actor


TownAdmin = Annotated[Actor, Depends(require_town_admin)]


@dataclass(frozen=True)
class VillageAccess:
    actor: Actor
    village: repository.VillageLine


def village_role(
    *roles: Role, town_admin: bool = True
) -> Callable[[uuid.UUID, Actor, Session], Awaitable[VillageAccess]]:
    """A dependency for `/villages/{village_id}/...` paths: the village exists and the actor holds a role."""
    allowed = frozenset(roles)

    async def dependency(village_id: uuid.UUID, actor: CurrentActor, session: Session) -> VillageAccess:
        village = await repository.village(session, village_id)
        if village is None:
            raise NotFound("找不到该村")
        authorize(actor, village_id, allowed, town_admin=town_admin)
        return VillageAccess(actor=actor, village=village)

    return dependency


# the header as sent (checked by valid_key): for an endpoint that looks at it itself (awards/endpoints.py)
IdempotencyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="1–200 printable characters; a retry with the same key and body changes nothing",
    ),
]


async def idempotency_key(
    actor: CurrentActor,  # authentication is checked first: 401 before 400
    key: IdempotencyHeader = None,
) -> CallerKey:
    return CallerKey(actor.user_id, valid_key(key))


async def deferred_idempotency_key(actor: CurrentActor, key: IdempotencyHeader = None) -> CallerKey:
    """The key as sent, not yet checked: a one-call path (`@idempotent(at_once=...)`) takes only a valid one,
    and the endpoint's access checks it with `valid_key` after its own checks (404 and 403 before 400)."""
    return CallerKey(actor.user_id, key or "")


DeferredKey = Annotated[CallerKey, Depends(deferred_idempotency_key)]


def deferred_idempotency_key_of(body_model: type[BaseModel]) -> Callable[..., Awaitable[CallerKey]]:
    """`deferred_idempotency_key` for an endpoint whose access check reads its body (`body_model`): a missing
    or unusable key is refused at once when that body is refused too (the access check never runs, and the
    key's 400 comes before the body's 422, as with `idempotency_key`), else after the access check."""

    async def deferred(request: Request, actor: CurrentActor, key: IdempotencyHeader = None) -> CallerKey:
        if not is_valid_key(key):
            try:
                body_model.model_validate_json(await request.body())
            except ValueError:  # pydantic's ValidationError, or not JSON at all
                raise IdempotencyKeyRequired() from None
        return CallerKey(actor.user_id, key or "")

    return deferred


class InVillage(Protocol):
    @property
    def village_id(self) -> uuid.UUID: ...


Checked = TypeVar("Checked", bound=InVillage)


@dataclass
class PendingAccess(Generic[Checked]):
    """The access to an idempotent write that has a one-call path (which checks the access in the database
    itself): checked only when that path did not answer, by `village_id()`, and then before the key, as
    always (404 and 403 before 400). A subclass says what it checks (`check`)."""

    actor: Actor
    session: AsyncSession
    header: str | None
    checked: Checked | None = field(default=None, init=False)

    async def check(self) -> Checked:
        raise NotImplementedError

    async def village_id(self) -> uuid.UUID:
        self.checked = await self.check()
        valid_key(self.header)  # 404 and 403 before 400
        return self.checked.village_id

    @property
    def access(self) -> Checked:
        assert self.checked is not None, "village_id() checks the access first"
        return self.checked


async def optional_idempotency_key(
    actor: CurrentActor,
    key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="optional; a retry with the same key and body changes nothing",
        ),
    ] = None,
) -> CallerKey | None:
    """For calls that are safe to send without a key but should run once when a client sends one (a restock
    from a form a clerk may tap twice)."""
    return None if key is None else CallerKey(actor.user_id, valid_key(key))
