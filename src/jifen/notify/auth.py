"""Who may manage notices: the village admin only (a town admin neither: a webhook's secret is the
village's)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from jifen.auth.dependencies import VillageAccess, village_role
from jifen.models import Role

notify_admin = village_role(Role.village_admin, town_admin=False)
NotifyAdmin = Annotated[VillageAccess, Depends(notify_admin)]
# the printed 本周积分变动 (names masked, for the village's notice boards): the admin and the grid workers
notice_reader = village_role(Role.village_admin, Role.cadre, town_admin=False)
