"""Who may upload and see photos: the users of the photo's village (and a town admin, who oversees them)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from jifen.auth.actor import VILLAGE_USERS, Actor
from jifen.auth.dependencies import CurrentActor, VillageAccess, authorize, village_role
from jifen.kit.db import Session
from jifen.kit.errors import NotFound, found
from jifen.photos import service

photo_uploader = village_role(*VILLAGE_USERS, town_admin=False)
PhotoUploader = Annotated[VillageAccess, Depends(photo_uploader)]


@dataclass(frozen=True)
class PhotoAccess:
    actor: Actor
    photo: service.Photo


async def photo_reader(photo_id: uuid.UUID, actor: CurrentActor, session: Session) -> PhotoAccess:
    photo = found(await service.get_photo(session, photo_id), "找不到该照片")
    try:
        authorize(actor, photo.village_id, VILLAGE_USERS, town_admin=True)
    except NotFound:
        raise NotFound("找不到该照片") from None
    return PhotoAccess(actor=actor, photo=photo)


PhotoReader = Annotated[PhotoAccess, Depends(photo_reader)]
