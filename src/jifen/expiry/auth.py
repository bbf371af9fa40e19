"""Who may touch expiry: the village admin sets the policy; everyone of the village reads it; the village's
staff (and the town admin) preview who loses points; a villager sees their own household's."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from jifen.auth.actor import VILLAGE_STAFF, VILLAGE_USERS
from jifen.auth.dependencies import VillageAccess, village_role
from jifen.models import Role

policy_setter = village_role(Role.village_admin, town_admin=False)
policy_reader = village_role(*VILLAGE_USERS)
preview_reader = village_role(*VILLAGE_STAFF)
PolicySetter = Annotated[VillageAccess, Depends(policy_setter)]
PolicyReader = Annotated[VillageAccess, Depends(policy_reader)]
PreviewReader = Annotated[VillageAccess, Depends(preview_reader)]
