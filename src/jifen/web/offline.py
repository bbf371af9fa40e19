"""Offline field scoring (PWA): the web app manifest, the service worker and what it keeps on the phone.

The service worker (`static/sw.js`, served from the root so its scope covers the staff's pages) keeps a copy
of the pages a cadre scores on: the household list of their grid, each household's award page, the grid
inspection sheets they opened, and `/staff/offline.json` (the households and the rules). Offline, the
outbox (`static/outbox.js`) keeps each award on the phone with its own Idempotency-Key and the moment it
was observed, and posts the same form when the connection returns; the server replays a resend.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel

from jifen.auth.households import household_lister
from jifen.households import service as households
from jifen.households.schemas import HouseholdSummary
from jifen.kit.db import PageRoute
from jifen.rules import service as rules
from jifen.rules.schemas import RuleOut
from jifen.web.context import HERE, CurrentPage

router = APIRouter(include_in_schema=False, route_class=PageRoute)
STATIC = HERE / "static"
# the award pages kept on the phone: a cadre's grid, or the first ones of a village admin's village
MAX_PAGES = 200


@router.get("/sw.js")
async def service_worker() -> Response:
    """Same origin, from the root: the worker's scope is the whole site. Never cached by the browser's HTTP
    cache, so a new version takes over on the next visit."""
    return FileResponse(STATIC / "sw.js", media_type="text/javascript", headers={"Cache-Control": "no-cache"})


@router.get("/manifest.webmanifest")
async def manifest() -> Response:
    return FileResponse(STATIC / "manifest.webmanifest", media_type="application/manifest+json")


class OfflineKit(BaseModel):
    """What a cadre scores on without signal: whose outbox it is, the households of their grid (or the
    first of the village), the rules in force, and the pages the service worker keeps."""

    user_id: uuid.UUID
    village_id: uuid.UUID
    households: list[HouseholdSummary]
    rules: list[RuleOut]
    pages: list[str]


@router.get("/staff/offline.json")
async def offline_kit(page: CurrentPage) -> Response:
    page.need("cadre", "village_admin")
    access = await household_lister(page.village_id, page.actor, page.session)
    found = await households.households_page(
        page.session, access, q=None, grid=None, cursor=None, limit=MAX_PAGES
    )
    kit = OfflineKit(
        user_id=page.actor.user_id,
        village_id=access.village.id,
        households=found.items,
        rules=[r for r in await rules.rules_out(page.session, access.village) if r.active],
        pages=["/staff/households", *(f"/staff/households/{h.id}" for h in found.items)],
    )
    return JSONResponse(kit.model_dump(mode="json"), headers={"Cache-Control": "no-store"})
